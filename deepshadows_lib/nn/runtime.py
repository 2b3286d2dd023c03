"""TensorFlow's process set-up, written once: import, CPU threads, seeds, determinism.

Every part of the library that runs the network (training, inference, the parallel
classifier's workers) sets TensorFlow up through these functions.

TensorFlow is imported inside the functions (:func:`tf`): importing it takes seconds, and
the command line's ``--help``, the catalog and simulation code never need it.
"""

import logging
import os
import sys

__all__ = ["tf", "available_cpus", "configure_threads", "set_seed", "per_model_function"]


def tf():
    """TensorFlow, imported on first use without its C++ start-up chatter.

    Returns
    -------
    module
        ``tensorflow``.
    """
    # Called from code that tf.data and tf.function trace: AutoGraph converts every
    # function called there and, failing on a method such as os.environ.setdefault,
    # logs a warning with the method's repr -- the whole environment, credentials
    # included -- into the user's notebook.  So no calls here, only subscripts and `in`.
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    # keep TensorFlow's C++ start-up chatter out of notebooks and the command line
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow
    return tensorflow


def available_cpus():
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def configure_threads(*, intra_op=None, inter_op=None):
    """Set TensorFlow's CPU thread pools, if TensorFlow has not started yet.

    One pool runs the parallel inner loops of an op (intra-op), the other runs
    independent ops side by side (inter-op).  This small network is a chain of ops,
    so the cores are best spent inside each op.

    The thread counts are part of what a seeded training reproduces: with op
    determinism on, the same seed and the same thread counts give bitwise the same
    weights in any process (tests/test_nn_runtime.py), but other thread counts split
    the float32 sums differently (oneDNN's fused batch norm most of all) and the
    weights then differ in the last bits, the more so the longer the training.

    Parameters
    ----------
    intra_op : int, optional
        Threads inside an op; default: the usable cores (:func:`available_cpus`).
    inter_op : int, optional
        Ops run side by side; default: 2.

    Returns
    -------
    bool
        True if the setting took effect, False if TensorFlow was already running (the
        pools cannot change after start-up; the earlier setting stays).

    Notes
    -----
    Until TensorFlow runs its first op a later call replaces an earlier one:
    :func:`deepshadows_lib.nn.train_cnn` calls this function without arguments, so a
    size chosen before it (as :func:`deepshadows_lib.studies.train_many`'s workers do)
    gives way to the defaults.
    """
    threading = tf().config.threading
    try:
        threading.set_intra_op_parallelism_threads(int(intra_op or available_cpus()))
        threading.set_inter_op_parallelism_threads(int(inter_op or 2))
    except RuntimeError:
        return False
    return True


def set_seed(seed, *, deterministic=True):
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow ops deterministic.

    Parameters
    ----------
    seed : int
        The seed.
    deterministic : bool, optional
        Turn on ``tf.config.experimental.enable_op_determinism()`` (process-wide and
        permanent: TensorFlow offers no switch back).  On the CPU it costs little.
    """
    tf_ = tf()
    import keras
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf_.config.experimental.enable_op_determinism()


#: qualified names of the library's functions that are traced anew for every model
_PER_MODEL = set()


class _PerModelRetracing(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warning for :data:`_PER_MODEL`.

    TensorFlow warns when functions defined at one place in the code are traced more
    than five times in a row, taking it for a tf.function created in a loop by mistake.
    The library's inference and batch-norm functions are built on purpose once per
    model (the weights are folded into the graph as constants), so a notebook that
    evaluates a dozen models would print the warning for each; other retracing
    warnings still show.
    """

    def filter(self, record):
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message
                    and any(f"<function {name} at" in message for name in _PER_MODEL))


def per_model_function(function):
    """Declare ``function`` (a Python function) traced once per model by design.

    Returns ``function`` itself; TensorFlow's retracing warning no longer names it
    (:class:`_PerModelRetracing`).  Call it where the function is built, outside any
    traced code.
    """
    _PER_MODEL.add(function.__qualname__)
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _PerModelRetracing) for f in logger.filters):
        logger.addFilter(_PerModelRetracing())
    return function
