"""Tests of deepshadows_lib.nn.runtime: threads, seeds, determinism."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepshadows_lib import nn

ROOT = Path(__file__).resolve().parent.parent

# One short training in a fresh process; prints the intra-op threads TensorFlow ran with
# (train_cnn's default: the usable cores) and the SHA-256 of the weights and the losses.
_TRAIN = """
import hashlib, sys
sys.path.insert(0, {tests!r})
import numpy as np
import tensorflow as tf
from synthetic_images import easy_images
from deepshadows_lib import nn

images, y = easy_images(48, seed=2)
model, history = nn.train_cnn(images, y, epochs=2, batch_size=16, seed=5, progress=False,
                              checkpoint=None)
h = hashlib.sha256()
for w in model.get_weights():
    h.update(np.ascontiguousarray(w).tobytes())
h.update(np.asarray(history["loss"]).tobytes())
print(tf.config.threading.get_intra_op_parallelism_threads(), h.hexdigest())
"""


def test_available_cpus_is_the_affinity_mask():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count()
    assert nn.available_cpus() == expected >= 1


@pytest.mark.slow
@pytest.mark.tf
def test_same_seed_and_threads_give_the_same_weights_in_another_process():
    # what is reproducible: the seed *and* the thread counts (configure_threads' docstring).
    # Two processes with the same threads agree bit for bit.  (Two threads against one
    # are not bitwise equal: on a 2-core x86 CPU the weights differed by up to 3e-4 after
    # two epochs, 1e-6 with Keras' own batch norm; so no docstring claims it.)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    code = _TRAIN.format(tests=str(ROOT / "tests"))
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        used, digest = out.stdout.split()[-2:]
        assert int(used) == nn.available_cpus()
        runs.append(digest)
    assert runs[0] == runs[1]


@pytest.mark.tf
def test_configure_threads_says_when_tensorflow_already_runs():
    # once TensorFlow has run an op its pools are fixed: the call changes nothing and
    # says so (the subprocess test above sees the other branch take effect)
    import tensorflow as tf

    tf.constant(1.0) + 1.0
    threading = tf.config.threading
    before = (threading.get_intra_op_parallelism_threads(),
              threading.get_inter_op_parallelism_threads())
    assert nn.configure_threads(intra_op=before[0] + 1, inter_op=before[1] + 1) is False
    assert (threading.get_intra_op_parallelism_threads(),
            threading.get_inter_op_parallelism_threads()) == before


@pytest.mark.tf
def test_set_seed_reproduces_keras_initial_weights():
    nn.set_seed(11)
    a = nn.build_deepshadows(compile=False).get_weights()
    nn.set_seed(11)
    b = nn.build_deepshadows(compile=False).get_weights()
    nn.set_seed(12)
    c = nn.build_deepshadows(compile=False).get_weights()
    digest = [hashlib.sha256(b"".join(w.tobytes() for w in ws)).hexdigest() for ws in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]


# tf.data traces the augmentation, which reaches TensorFlow through runtime.tf(); the
# marker is an environment variable whose value must never reach the output
_AUGMENT = """
import numpy as np
from deepshadows_lib import augment
from deepshadows_lib.nn.runtime import tf
x = np.zeros((4, 8, 8, 3), np.uint8)
ds = tf().data.Dataset.from_tensor_slices((x, np.zeros(4))).batch(2)
print(sum(1 for _ in augment.augment_dataset(ds, seed=1)))
"""


@pytest.mark.slow  # spawns a process (TensorFlow's start-up: seconds)
@pytest.mark.tf
def test_traced_code_does_not_print_the_environment():
    # AutoGraph logged "could not transform <bound method _Environ.setdefault of
    # environ({...})>" -- every environment variable -- into the notebooks' output
    secret = "do-not-print-4f9c2e"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEEPSHADOWS_TEST_SECRET": secret}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    out = subprocess.run([sys.executable, "-c", _AUGMENT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "2"
    assert secret not in out.stdout + out.stderr
    assert "could not transform" not in out.stderr


class _Records(__import__("logging").Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.mark.tf
def test_retracing_warning_quiet_for_per_model_functions_only(binary_model, random_images):
    import logging

    from deepshadows_lib.nn import inference, runtime
    tf = runtime.tf()
    logger = logging.getLogger("tensorflow")
    handler = _Records()
    logger.addHandler(handler)
    try:
        # the library builds one inference function per call, by design
        for _ in range(8):
            inference.predict(binary_model, random_images[:2])
        mine = [m for m in handler.messages if "retracing" in m]

        # a function of no one's declaration, traced anew in a loop, still warns
        def make():
            def square(x):
                return x * x
            return tf.function(square)
        for k in range(8):
            make()(tf.constant(float(k)))
        other = [m for m in handler.messages if "retracing" in m and "square" in m]
    finally:
        logger.removeHandler(handler)
    assert mine == []
    assert other, "TensorFlow's retracing warning did not fire: the test proves nothing"
