import os
import pathlib

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")



def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) and not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # pytest-xdist's controller runs no test: leave TensorFlow to its workers (~4 s sooner)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # One test process per core already: the tiny models' ops run on one thread each instead of
        # four threads contending for two cores (suite 216 s -> 187 s measured); subprocesses inherit it.
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    import tensorflow as tf

    # Grappler's graph rewrites pay off on long runs, not on the suite's few steps per traced function:
    # off, a tiny text classifier's build + fit + evaluate + predict takes ~12% less CPU (measured
    # 5.6 -> 4.9 s per run). Fresh serving processes and the subprocess tests keep TensorFlow's defaults.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    from kerastune.distribute import use_logical_cpus

    use_logical_cpus(2)  # two CPU devices, so MirroredStrategy tests have two replicas (before TF starts)


def pytest_collection_finish(session):
    # Every test module is imported now: TensorFlow, Keras and KerasHub hold ~420,000 objects that live
    # as long as the process. Frozen, Python's full collections stop scanning them at every pass
    # (tests/recipes + the CLI tests: 18 -> 7 s of gen-2 collections over two workers); what the tests
    # create is still collected.
    import gc

    gc.collect()
    gc.freeze()


# Folders whose files share session fixtures (tiny exports and the fresh process serving them): each
# runs whole in one worker, so those fixtures are built once, not once per worker (tests/compression/
# in two workers built its fitted model, three exports and a serving process twice: ~23 s of CPU).
SHARED_FIXTURE_FOLDERS = ("tests/export/", "tests/compression/")


def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (`-n`), each test file runs in one worker, and each of SHARED_FIXTURE_FOLDERS
    in one: module and session fixtures are built once."""
    from xdist.scheduler import LoadFileScheduling

    class FileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid):
            scope = super()._split_scope(nodeid)
            return next((folder for folder in SHARED_FIXTURE_FOLDERS if scope.startswith(folder)), scope)

    return FileScheduling(config, log)


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
