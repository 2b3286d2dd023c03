"""Run ``deepshadows`` commands in forked children that a test can kill at any moment.

Started once as a subprocess (``python tests/crash_harness.py``), it imports the library
(TensorFlow, GalSim, ...) a single time and then, for each JSON line on its standard
input (``{"argv": [...]}``), forks a child that runs ``deepshadows_lib.cli.main(argv)`` in
a new session (so that ``os.killpg`` reaches the processes it starts), prints
``pid PID`` at once and ``exit STATUS`` when the child is gone.  A child killed by a
signal reports ``exit -SIGNAL``.  Forking from the warm parent makes a run cost its own
work, not ~5 s of imports, so that a test can kill each writer many times.

TensorFlow is only imported here, never run: its thread pools start in each child.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import deepshadows_lib.catalogs  # noqa: E402,F401
import deepshadows_lib.classify  # noqa: E402,F401
import deepshadows_lib.cutouts  # noqa: E402,F401
import deepshadows_lib.simulate  # noqa: E402,F401
import keras  # noqa: E402,F401
import tensorflow  # noqa: E402,F401
from deepshadows_lib.cli import main  # noqa: E402


def _child(argv):
    os.setsid()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        rc = main(argv)
    except BaseException:  # noqa: BLE001 (a child must never return into the loop)
        rc = 99
    os._exit(int(rc or 0))


def serve():
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        argv = [str(a) for a in json.loads(line)["argv"]]
        pid = os.fork()
        if pid == 0:
            _child(argv)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(f"exit {code}", flush=True)


if __name__ == "__main__":
    serve()
