"""The ``plus`` recipe against the paper's CNN on one profile's synthetic test set.

What notebook 06 does, without the figures, timing each stage (wall and CPU seconds,
with the load average beside them: the machine may be shared) and writing the ablation,
the calibration and the issue's targets as JSON::

    python bench/bench_plus.py --profile default --out bench/plus_default.json \
        [--n-seeds 3] [--build /tmp/plus_build]

``--n-seeds 1`` skips the seed-spread study (the first seed's ensemble is the one
assessed); the targets table then says the spread was not measured.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _stage(log, name, t0, c0):
    log[name] = {"wall_s": round(time.perf_counter() - t0, 1),
                 "cpu_s": round(time.process_time() - c0, 1),
                 "loadavg": os.getloadavg()}
    print(f"{name}: {log[name]}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--out", required=True)
    ap.add_argument("--build", default=None, help="where the synthetic stores go")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--n-seeds", type=int, default=None,
                    help="seeds of the spread study (default: the profile's n_plus_seeds)")
    ap.add_argument("--predictions", default=None,
                    help="also save the test labels and every row's probabilities (.npz)")
    args = ap.parse_args(argv)

    from deepshadows_lib import pipeline, plus, training

    cfg = pipeline.configure(profile=args.profile, seed=args.seed,
                             build_dir=args.build or f"/tmp/deepshadows_plus_{args.profile}",
                             figures_dir=(args.build or "/tmp/deepshadows_plus") + "_figures")
    prof = cfg.profile
    times = {}
    t0, c0 = time.perf_counter(), time.process_time()
    stores = pipeline.prepare_data(cfg, progress=False)
    des = pipeline.load_problem(stores["des"], seed=cfg.seed)
    _stage(times, "data", t0, c0)
    kw = dict(epochs=prof.epochs, batch_size=prof.batch_size, learning_rate=prof.learning_rate)

    t0, c0 = time.perf_counter(), time.process_time()
    paper_cnn, _ = training.train_cnn(des.images, des.labels, train_idx=des.split["train"],
                                      val_idx=des.split["validation"], seed=cfg.seed,
                                      progress=False, **kw)
    _stage(times, "paper_cnn", t0, c0)

    t0, c0 = time.perf_counter(), time.process_time()
    model = plus.train_plus(des.images, des.labels, train_idx=des.split["train"],
                            val_idx=des.split["validation"], seed=cfg.seed,
                            n_members=prof.n_ensemble, head=prof.plus_head, progress=False,
                            **kw)
    _stage(times, f"plus_{prof.n_ensemble}_members", t0, c0)

    t0, c0 = time.perf_counter(), time.process_time()
    other = "gap" if prof.plus_head == "flatten" else "flatten"
    variant = plus.train_plus(des.images, des.labels, train_idx=des.split["train"],
                              val_idx=des.split["validation"], seed=cfg.seed, n_members=1,
                              head=other, progress=False, **kw)
    _stage(times, f"head_{other}_1_member", t0, c0)

    t0, c0 = time.perf_counter(), time.process_time()
    res = plus.ablation(model, des.images, des.labels, test_idx=des.split["test"],
                        val_idx=des.split["validation"], paper_model=paper_cnn, gap=variant,
                        n_bootstrap=prof.n_bootstrap, seed=cfg.seed)
    _stage(times, "ablation", t0, c0)

    n_seeds = prof.n_plus_seeds if args.n_seeds is None else args.n_seeds
    seeds_table = None
    if n_seeds >= 2:
        t0, c0 = time.perf_counter(), time.process_time()
        seeds_table = plus.seed_spread(
            des.images, des.labels, split=des.split,
            seeds=plus.spread_seeds(cfg.seed, prof.seeds, n_seeds), n_members=prof.n_ensemble,
            head=prof.plus_head, first=(cfg.seed, model), progress=False, **kw)
        _stage(times, f"seed_spread_{n_seeds}", t0, c0)

    out = {
        "benchmark": "plus", "profile": prof.name, "seed": cfg.seed,
        "n_train": int(len(des.split["train"])), "n_test": int(len(des.split["test"])),
        "n_ensemble": prof.n_ensemble, "epochs": prof.epochs,
        "temperature_plus": model.temperature,
        "temperature_paper": res.get("paper_temperature"),
        "head_kept": plus.head_decision(res),
        "ablation": json.loads(res["table"].to_json(orient="index")),
        "targets": json.loads(plus.targets(res, seeds_table).to_json(orient="index")),
        "seeds": None if seeds_table is None else json.loads(seeds_table.to_json(orient="index")),
        "uncertainty_quartiles": json.loads(plus.uncertainty_table(
            res["y"], res["p_plus"], res["uncertainty"]).to_json(orient="records")),
        "stages": times, "cpus": os.cpu_count(),
        "note": "wall times on a shared machine: see each stage's loadavg",
    }
    Path(args.out).write_text(json.dumps(out, indent=1))
    if args.predictions:
        import numpy as np
        np.savez_compressed(args.predictions, y=res["y"], raw_plus=res["raw"],
                            uncertainty=res["uncertainty"],
                            **{name.replace(" ", "_"): p for name, (_, p)
                               in res["scores"].items()})
    print(json.dumps(out["targets"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
