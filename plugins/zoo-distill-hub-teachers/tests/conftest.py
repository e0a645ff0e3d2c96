"""Offline with an empty Hugging Face cache, and ``zd_hub_teachers`` importable from a checkout.

The environment is set before huggingface_hub is imported (it reads these once).
"""

import os
import sys
import tempfile
from pathlib import Path

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="zd-hub-teachers-test-hf-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)
