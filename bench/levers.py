"""Measure the levers of issue 15 on the synthetic survey: BN re-estimation, a step budget
spent on more distinct objects, and where the CNN looks (central share of Grad-CAM and
occlusion maps, accuracy with the centre or the surroundings hidden).

    .venv/bin/python bench/levers.py --n-per-class 6000 --steps 1050 --out bench/levers.json

Each configuration appends one record to the JSON file (accuracy and AUC of the test set
with the training's moving statistics and with re-estimated ones, CPU and wall time).
"""

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from deepshadows_lib import (bn_stats, evaluate, features, gradcam, pipeline, studies,
                             training)


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-class", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=1050)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--build", default="build/levers")
    ap.add_argument("--out", default="bench/levers.json")
    ap.add_argument("--mask-neighbours", action="store_true")
    ap.add_argument("--save-model", default=None)
    args = ap.parse_args()

    build = Path(args.build)
    build.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.time(), _cpu()
    store = pipeline.simulated_store(build / f"des_{args.n_per_class}.zarr",
                                     n_per_class=args.n_per_class, survey="des",
                                     classes=("lsbg", "artifact2"), seed=args.seed,
                                     chunk_size=1024, progress=False)
    sim_s = time.time() - t0
    prob = pipeline.load_problem(store, classes=("lsbg", "artifact2"), seed=args.seed)
    images = prob.images
    if args.mask_neighbours:
        from deepshadows_lib import occlusion
        images = occlusion.mask_neighbours(images)
    tr, va, te = (prob.split[k] for k in ("train", "validation", "test"))
    y = prob.labels
    X = features.paper_features(prob.catalog)
    base = studies.baseline_models(X.iloc[tr], y[tr], X.iloc[te], y[te], seed=args.seed)
    steps_per_epoch = -(-len(tr) // 64)
    epochs = max(1, round(args.steps / steps_per_epoch))
    t1, c1 = time.time(), _cpu()
    model, hist = training.train_cnn(images, y, train_idx=tr, val_idx=va, epochs=epochs,
                                     seed=args.seed, progress=False)
    train_s, train_cpu = time.time() - t1, _cpu() - c1
    p_moving = training.predict(model, images, indices=te)
    bn_stats.reestimate_batch_norm(model, images, indices=tr)
    p_bn = training.predict(model, images, indices=te)
    if args.save_model:
        training.save_model(model, args.save_model)
    rec = {"n_per_class": args.n_per_class, "n_train": int(len(tr)), "epochs": epochs,
           "steps": epochs * steps_per_epoch, "seed": args.seed,
           "mask_neighbours": args.mask_neighbours,
           "svm": base["SVM"]["metrics"]["accuracy"],
           "rf": base["Random forest"]["metrics"]["accuracy"],
           "moving": evaluate.binary_metrics(y[te], p_moving),
           "reestimated": evaluate.binary_metrics(y[te], p_bn),
           "frac_pred_lsbg_moving": float((p_moving > 0.5).mean()),
           "frac_pred_lsbg_reestimated": float((p_bn > 0.5).mean()),
           "simulate_s": sim_s, "train_wall_s": train_s, "train_cpu_s": train_cpu,
           "loadavg": os.getloadavg()}
    # where does it look: confident true positives
    sel = np.flatnonzero((y[te] == 1) & (p_bn > 0.8))[:60]
    if len(sel):
        imgs = images[te[sel]]
        maps = gradcam.gradcam_maps(model, imgs, class_index=1)
        rec["gradcam_central_share_median"] = float(np.median(gradcam.central_share(maps)))
        try:
            from deepshadows_lib import occlusion
            occ = occlusion.occlusion_maps(model, imgs)
            rec["occlusion_central_share_median"] = float(
                np.median(gradcam.central_share(occ)))
            rec["hidden"] = occlusion.hidden_region_accuracy(model, images[te], y[te])
        except ImportError:
            pass
    rec = {k: (v if not isinstance(v, dict) else
               {kk: vv for kk, vv in v.items() if np.ndim(vv) == 0}) for k, v in rec.items()}
    out = Path(args.out)
    old = json.loads(out.read_text()) if out.exists() else []
    old.append(rec)
    out.write_text(json.dumps(old, indent=1, default=float))
    print(json.dumps(rec, indent=1, default=float))


if __name__ == "__main__":
    main()
