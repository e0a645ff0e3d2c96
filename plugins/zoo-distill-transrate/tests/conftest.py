"""Make ``zd_transrate`` importable from a checkout, installed or not, whatever pytest's rootdir."""

import sys
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)
