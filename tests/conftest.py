import os
import pathlib

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")



def pytest_configure(config):
    from kerastune.distribute import use_logical_cpus

    use_logical_cpus(2)  # two CPU devices, so MirroredStrategy tests have two replicas (before TF starts)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`-n`), each test file runs in one worker, and tests/export/ in one: module and
    session fixtures (the tiny exports, the fresh serving process) are then built once."""
    for item in items:
        path = pathlib.Path(str(item.fspath))
        group = "export" if path.parent.name == "export" else f"{path.parent.name}/{path.name}"
        item.add_marker(pytest.mark.xdist_group(group))


SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    import keras

    # free_memory=False: skip the gc.collect() Keras runs by default; it costs ~0.1-0.4 s per test
    # (it grows with the heap) and Python's own collector frees the cycles anyway.
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")


def shared_path(*parts):
    """Path under ../shared, or a pytest skip naming what is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (shared data/models are not in this checkout)")
    return path
