"""Run ``deepshadows`` commands in forked children that a test can kill at any moment.

Started once as a subprocess (``python tests/crash_harness.py``), it imports the library
(TensorFlow, GalSim, ...) a single time and then, for each JSON line on its standard
input (``{"argv": [...]}``), forks a child that runs ``deepshadows_lib.cli.main(argv)`` in
a new session (so that ``os.killpg`` reaches the processes it starts), prints
``pid PID`` at once and ``exit STATUS`` when the child is gone.  A child killed by a
signal reports ``exit -SIGNAL``.  ``"kill_at": K`` kills the child just before the K-th
rename of its writes (every commit point, not a moment in time: see
:func:`_commit_points`); ``"count_file": PATH`` writes how many there were.  Forking from the warm parent makes a run cost its own
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


def _commit_points(kill_at, count_file):
    """Count the commits of the child's writes; SIGKILL it just before commit ``kill_at``.

    Every write of a store, its parts, the job records and zarr's chunks ends with a
    rename onto the final name (``os.replace``, ``os.rename``): the moments at which
    what is on disk changes.  Killing just before the k-th for every k reaches every
    state a crash can leave, whatever the timing; ``count_file`` receives the number
    of commits of a run that is not killed.
    """
    import signal
    import threading

    lock = threading.Lock()
    seen = [0]

    def hook(real):
        def commit(*args, **kwargs):
            with lock:
                seen[0] += 1
                if kill_at is not None and seen[0] >= kill_at:
                    os.killpg(0, signal.SIGKILL)  # the writer and any worker it started
            return real(*args, **kwargs)
        return commit

    os.replace = hook(os.replace)
    os.rename = hook(os.rename)
    return lambda: count_file and open(count_file, "w").write(str(seen[0]))


def _child(argv, kill_at=None, count_file=None):
    os.setsid()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    report = _commit_points(kill_at, count_file) if (kill_at or count_file) else None
    try:
        rc = main(argv)
    except BaseException:  # noqa: BLE001 (a child must never return into the loop)
        rc = 99
    if report is not None:
        report()
    os._exit(int(rc or 0))


def serve():
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        argv = [str(a) for a in job["argv"]]
        pid = os.fork()
        if pid == 0:
            _child(argv, job.get("kill_at"), job.get("count_file"))
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(f"exit {code}", flush=True)


if __name__ == "__main__":
    serve()
