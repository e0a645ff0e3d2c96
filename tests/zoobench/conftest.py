import pytest

from zoo_distill.zoobench import ZoobenchSettings


def tiny_settings(**overrides) -> ZoobenchSettings:
    """A zoobench small enough to build in seconds: same code paths, tiny sizes."""
    base = {
        "sources": ("digits", "shapes"),
        "targets": ("shapes-on-textures", "handwritten-digits"),
        "generic_per_class": 2,
        "generic_epochs": 1,
        "source_per_class": 3,
        "source_epochs": 1,
        "batch_size": 16,
        "shots": (2,),
        "split_seeds": 2,
        "unlabeled_per_class": 3,
        "test_per_class": 3,
    }
    base.update(overrides)
    return ZoobenchSettings.mini(**base)


@pytest.fixture(scope="session")
def tiny_zoobench(tmp_path_factory):
    from zoo_distill.zoobench import build_zoobench

    root = tmp_path_factory.mktemp("zoobench")
    return build_zoobench(root, tiny_settings())
