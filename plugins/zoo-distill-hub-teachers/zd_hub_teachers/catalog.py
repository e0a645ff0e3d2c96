"""The teachers this plugin contributes: public timm-format repos on the Hugging Face Hub.

Each repo holds ``config.json`` (timm's ``architecture``, ``num_classes``, ``pretrained_cfg``) and
``model.safetensors``, which is what zoo-distill's ``hf-hub`` provider loads (never pickle).
Every entry names the revision it is pinned to; ``main`` follows the repo, a commit hash freezes it.
"""

from __future__ import annotations

from zoo_distill.plugin import ZooEntry

#: Shown as the entries' origin in ``zoo-distill zoo ls`` and in warnings.
ORIGIN = "zoo-distill-hub-teachers"

TEACHERS: list[dict[str, str]] = [
    {
        "name": "hub-resnet18-a1-in1k",
        "repo": "timm/resnet18.a1_in1k",
        "revision": "main",
        "domain": "natural images (ImageNet-1k)",
        "description": "ResNet-18, ResNet-strikes-back A1 recipe (11.7M parameters)",
        "license": "apache-2.0",
    },
    {
        "name": "hub-mobilenetv3-small-in1k",
        "repo": "timm/mobilenetv3_small_100.lamb_in1k",
        "revision": "main",
        "domain": "natural images (ImageNet-1k)",
        "description": "MobileNetV3-Small 1.0, LAMB recipe (2.5M parameters)",
        "license": "apache-2.0",
    },
    {
        "name": "hub-convnext-atto-in1k",
        "repo": "timm/convnext_atto.d2_in1k",
        "revision": "main",
        "domain": "natural images (ImageNet-1k)",
        "description": "ConvNeXt-Atto (3.7M parameters)",
        "license": "apache-2.0",
    },
    {
        "name": "hub-vit-tiny-augreg-in21k",
        "repo": "timm/vit_tiny_patch16_224.augreg_in21k",
        "revision": "main",
        "domain": "natural images (ImageNet-21k, 21843 classes)",
        "description": "ViT-Tiny/16 at 224 px, AugReg recipe (5.7M parameters)",
        "license": "apache-2.0",
    },
]


def zoo_entries() -> list[ZooEntry]:
    """The catalog as ``hf-hub`` zoo entries (validated by zoo-distill when a zoo is loaded)."""
    return [
        ZooEntry(
            name=t["name"],
            provider="hf-hub",
            options={"repo": t["repo"], "revision": t["revision"]},
            domain=t["domain"],
            description=t["description"],
            license=t["license"],
            origin=ORIGIN,
        )
        for t in TEACHERS
    ]
