"""Run a profile's notebooks on a GPU and record the wall time of each (``make paper-gpu``).

    python bench/paper_gpu.py [--profile paper] [--build build/paper-gpu] [--figures figures]
                              [--notebooks 01_file_creation,...] [--xla auto|on|off]
                              [--out bench/paper_gpu.json] [--results bench/results.json]
                              [--dry-run]

1. A short precision check first, each side in its own process: the same seeded
   training (a learnable set, a few epochs) in float32 with op determinism, and with
   the GPU settings (Keras' ``mixed_bfloat16`` and XLA, op determinism off); their test
   accuracies must agree within ``--tolerance``.  XLA (``TF_XLA_FLAGS
   --tf_xla_auto_jit=2``: TensorFlow clusters the notebooks' graphs itself) is turned on
   for the notebooks only when the check passes and a GPU is present (``--xla auto``);
   so is mixed bfloat16 (:func:`deepshadows_lib.training.train_cnn`'s ``"auto"``, set
   through ``DEEPSHADOWS_MIXED_PRECISION``): without a GPU, or when the check fails, the
   notebooks train in float32.
2. Each notebook through ``deepshadows figures --notebook NAME`` (papermill), in order,
   timed; ``--check`` of the figures at the end when every notebook ran.
3. The record -- date, load before and after, CPU, GPU names, settings, the check,
   seconds per notebook -- goes to ``--out`` and, as the entry ``paper_gpu``, into
   ``--results`` (``bench/run_all.py`` folds ``bench/paper_gpu.json`` in on every run:
   without a GPU it cannot re-measure it).

Without ``--profile`` the profile is ``paper`` on a GPU; without a GPU the command says
so in one line and runs the ``smoke`` profile on the CPU, a check of the command in
minutes rather than the paper profile's days on a CPU (``--profile paper`` runs it
anyway).  Without ``--figures`` a GPU run writes its figures to ``figures/`` and a run
on the CPU to ``BUILD/figures``, so that a check never replaces the committed figures.
A record made without a GPU never replaces one made on a GPU: it goes to
``OUT`` with ``.cpu.json`` for its ending, and ``--results`` keeps the GPU entry.
``--dry-run`` prints the commands and settings without running anything
(``tests/test_bench_paper_gpu.py``).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness  # noqa: E402

REPO = _harness.REPO
NOTEBOOKS = ("01_file_creation", "02_deepshadows", "03_uncertainty", "04_gradcam",
             "05_three_class", "06_beyond")
XLA_FLAGS = "--tf_xla_auto_jit=2"
#: deepshadows_lib.nn.training.MIXED_PRECISION_ENV (not imported: TensorFlow would load)
MIXED_PRECISION_ENV = "DEEPSHADOWS_MIXED_PRECISION"


def gpus():
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                            "--format=csv,noheader"], capture_output=True, text=True,
                           timeout=30)
        return [n.strip() for n in r.stdout.splitlines() if n.strip()]
    except (OSError, subprocess.TimeoutExpired):
        return []


def check_contender(kind, n, epochs, seed):
    """One side of the precision check (own process: op determinism is process-wide)."""
    from deepshadows_lib import bn_stats, training
    images, y = _harness.faint_glow_set(n + 512)
    train, test = np.arange(n), np.arange(n, n + 512)
    fast = kind == "gpu_settings"
    t = time.perf_counter()
    model, _ = training.train_cnn(images, y, train_idx=train, epochs=epochs, seed=seed,
                                  progress=False, checkpoint=None, deterministic=not fast,
                                  jit_compile=fast, mixed_precision=fast)
    seconds = time.perf_counter() - t
    # after a short training the moving batch-norm statistics lag the weights (as in the
    # profiles): re-estimated on the training images, the accuracy says what was learnt
    bn_stats.reestimate_batch_norm(model, images, indices=train)
    p = training.predict(model, images, indices=test)
    return {"accuracy": float(np.mean((p > 0.5) == y[test])), "train_s": seconds,
            "p": [float(v) for v in p[:64]]}


def precision_check(*, n, epochs, seed, tolerance, log):
    res = {}
    for kind in ("float32", "gpu_settings"):
        log(f"precision check: {kind} ...")
        res[kind] = _harness.run_contender("paper_gpu.py", kind,
                                           ["--check-n", n, "--check-epochs", epochs])
    diff = abs(res["gpu_settings"]["accuracy"] - res["float32"]["accuracy"])
    return {"float32_accuracy": res["float32"]["accuracy"],
            "gpu_settings_accuracy": res["gpu_settings"]["accuracy"],
            "accuracy_difference": diff, "tolerance": tolerance, "passed": diff <= tolerance,
            "max_probability_difference": float(np.max(np.abs(
                np.array(res["float32"]["p"]) - np.array(res["gpu_settings"]["p"])))),
            "n_train": n, "n_test": 512, "epochs": epochs,
            "settings": "mixed_bfloat16 + XLA (jit_compile), op determinism off"}


def notebook_command(name, a):
    """``deepshadows figures`` for one notebook, or (``name`` None) its ``--check``."""
    cmd = [_harness.PY, "-m", "deepshadows_lib.cli", "figures", "--profile", a.profile,
           "--data", a.data, "--build", a.build, "--figures", a.figures]
    return cmd + (["--check"] if name is None else ["--notebook", name])


def resolve(a, found, log=print):
    """Fill in the profile, build and figures directories that were not given."""
    if a.profile is None:
        a.profile = "paper" if found else "smoke"
        if not found:
            log("paper_gpu: no GPU found (nvidia-smi lists none): running the smoke profile "
                "on the CPU as a check of the command; --profile paper (make paper-gpu "
                "PROFILE=paper) runs the paper profile on the CPU anyway")
    a.build = a.build or f"build/{a.profile}-gpu"
    if a.figures is None:
        a.figures = "figures" if found else str(Path(a.build) / "figures")
    return a


def _gpu_record(path):
    try:
        return bool(json.loads(Path(path).read_text())["gpu"]["present"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def save(record, out, results, log=print):
    """Write ``record`` to ``out`` and as the entry ``paper_gpu`` of ``results``.

    A record made without a GPU does not replace one made on a GPU: it goes to ``out``
    with ``.cpu.json`` for its ending, and ``results`` keeps its entry.  Returns the
    path written.
    """
    from deepshadows_lib._io import atomic_write_json
    out, results = Path(out), Path(results)
    if not record["gpu"]["present"] and _gpu_record(out):
        cpu_out = out.with_name(out.name.removesuffix(".json") + ".cpu.json")
        atomic_write_json(cpu_out, record)
        log(f"paper_gpu: {out} holds a run on a GPU; this run without one went to {cpu_out}")
        return cpu_out
    atomic_write_json(out, record)
    merged = json.loads(results.read_text()) if results.exists() else {}
    merged.setdefault("benchmarks", {})["paper_gpu"] = _harness.folded_entry(record, out)
    atomic_write_json(results, merged)
    return out


def run(a, log=print, found=None):
    names = [n.strip() for n in a.notebooks.split(",") if n.strip()]
    found = gpus() if found is None else found
    record = {**_harness.stamp(), "profile": a.profile, "gpu": {"present": bool(found),
                                                                "names": found},
              "notebooks": names}
    if not found:
        record["note"] = ("no GPU: ran on the CPU (a check of the command, not the GPU "
                          "wall time)")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if a.dry_run:
        xla = a.xla == "on" or (a.xla == "auto" and bool(found))
        record["commands"] = [" ".join(map(str, notebook_command(n, a))) for n in names]
        record["xla"] = xla
        record["dry_run"] = True
        return record
    check = precision_check(n=a.check_n, epochs=a.check_epochs, seed=0,
                            tolerance=a.tolerance, log=log)
    record["precision_check"] = check
    xla = a.xla == "on" or (a.xla == "auto" and bool(found) and check["passed"])
    if xla:
        env["TF_XLA_FLAGS"] = (env.get("TF_XLA_FLAGS", "") + " " + XLA_FLAGS).strip()
    # mixed bfloat16 (train_cnn's "auto": on with a GPU) only where the check found it
    # exact enough; the notebooks' kernels read the setting from their environment
    mixed = bool(found) and check["passed"]
    env[MIXED_PRECISION_ENV] = "1" if mixed else "0"
    record["xla"] = xla
    record["mixed_precision"] = mixed
    secs = {}
    for name in names:
        log(f"notebook {name} ...")
        t = time.perf_counter()
        r = subprocess.run(notebook_command(name, a), cwd=REPO, env=env)
        secs[name] = round(time.perf_counter() - t, 1)
        if r.returncode:
            record["failed"] = name
            break
    record["notebooks_s"] = secs
    record["total_s"] = round(sum(secs.values()), 1)
    if "failed" not in record and set(NOTEBOOKS) <= set(names):
        # every notebook ran: the figures are checked as make paper-figures checks them
        r = subprocess.run(notebook_command(None, a), cwd=REPO, env=env)
        record["figures_check"] = "passed" if r.returncode == 0 else "failed"
        if r.returncode:
            record["failed"] = "figures --check"
    record["loadavg_after"] = _harness.loadavg()
    return record


def contender(a):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _harness.emit(check_contender(a.contender, a.check_n, a.check_epochs, seed=0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contender", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--profile", default=None,
                    help="default: paper on a GPU, smoke (a check) without one")
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--build", default=None, help="default: build/PROFILE-gpu")
    ap.add_argument("--figures", default=None,
                    help="default: figures/ on a GPU, BUILD/figures without one")
    ap.add_argument("--notebooks", default=",".join(NOTEBOOKS))
    ap.add_argument("--xla", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--check-n", type=int, default=2048, help="training images of the check")
    ap.add_argument("--check-epochs", type=int, default=4)
    ap.add_argument("--tolerance", type=float, default=0.02,
                    help="largest accepted accuracy difference of the check")
    ap.add_argument("--out", default=str(REPO / "bench" / "paper_gpu.json"))
    ap.add_argument("--results", default=str(REPO / "bench" / "results.json"))
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    if a.contender:
        contender(a)
        return 0
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    found = gpus()
    resolve(a, found, log=log)
    record = run(a, log=log, found=found)
    if a.dry_run:
        print(json.dumps(record, indent=2))
        return 0
    save(record, a.out, a.results, log=log)
    print(json.dumps({k: record[k] for k in ("notebooks_s", "total_s", "xla")}, indent=2))
    return 1 if "failed" in record else 0


if __name__ == "__main__":
    sys.exit(main())
