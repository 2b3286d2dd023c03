"""Trainings of a study one after the other (one process, all cores) or concurrently
(one process per training, cores shared out): wall time and CPU time.

    .venv/bin/python bench/concurrency.py --steps 200 --out bench/concurrency.json

On a shared machine wall time depends on the neighbours; CPU seconds per optimiser step
(all processes together) does not, and it shows how efficiently each arrangement uses
the cores.  The machine's load average is recorded beside.
"""

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from deepshadows_lib import studies, training


def _cpu_self_and_children():
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--trainings", type=int, default=2)
    ap.add_argument("--out", default="bench/concurrency.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = 64 * args.steps // 2  # two epochs of args.steps / 2 steps
    images = rng.integers(0, 256, (n + 128, 64, 64, 3), dtype=np.uint8)
    labels = rng.integers(0, 2, n + 128)
    tasks = [{"labels": labels, "train_idx": np.arange(n), "val_idx": None,
              "test_idx": np.arange(n, n + 128), "epochs": 2, "seed": s}
             for s in range(args.trainings)]
    out = {"steps_per_training": 2 * (n // 64), "trainings": args.trainings,
           "cpus": training.available_cpus()}
    for workers in (1, args.trainings):
        load0 = os.getloadavg()[0]
        c0, t0 = _cpu_self_and_children(), time.perf_counter()
        res = studies.train_many(images, tasks, workers=workers, progress=False)
        wall, cpu = time.perf_counter() - t0, _cpu_self_and_children() - c0
        steps = out["steps_per_training"] * args.trainings
        out[f"workers_{workers}"] = {"wall_s": wall, "cpu_s": cpu,
                                     "steps_per_wall_s": steps / wall,
                                     "steps_per_cpu_s": steps / cpu,
                                     "loadavg_before": load0,
                                     "loadavg_after": os.getloadavg()[0]}
        out[f"p_first_{workers}"] = [float(v) for v in res[0]["p"][:4]]
    out["same_predictions"] = out[f"p_first_1"] == out[f"p_first_{args.trainings}"]
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
