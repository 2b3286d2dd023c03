"""Diagnostic: which artifacts hold the AUC of the paper CNN and of plus at ~0.95?

Reads a finished run of notebooks 02 and 06 (``build/PROFILE``: the survey store, the
paper CNN's test predictions and ``plus.keras``), scores plus on the same test set, and
splits the test artifacts by the simulator's ``true_subtype``: for each subtype, the AUC
of LSBGs against that subtype alone and the share of the subtype called an LSBG at 0.5.
Also the LSBGs missed at 0.5 by quartile of measured mean surface brightness, and the
AUC with each subtype left out.  Prints JSON (saved as ``bench/plus_auc_by_subtype.json``):

    python bench/plus_auc_by_subtype.py --build build/default > bench/plus_auc_by_subtype.json

Not a benchmark of speed; a reading of a committed run, so that the README can say what
holds the AUC target out of reach.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from deepshadows_lib.notebook import load_problem
from deepshadows_lib.predict import Predictor
from deepshadows_lib.store import open_store
from deepshadows_lib.tables import load_predictions


def _auc(y, p):
    return round(float(roc_auc_score(y, p)), 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/default", help="a run's build directory")
    ap.add_argument("--seed", type=int, default=42, help="the run's seed (its split)")
    args = ap.parse_args()
    build = Path(args.build)
    des = load_problem(open_store(build / "des.zarr"), seed=args.seed)
    test, y = des.subset("test")
    cnn = load_predictions(build / "predictions_test.parquet")
    if not np.array_equal(cnn["row"].to_numpy(), test):
        raise SystemExit(f"{build / 'predictions_test.parquet'}: rows are not the test set "
                         f"of seed {args.seed}")
    p_plus, _ = Predictor.from_path(build / "plus.keras").predict(des.images[test])
    t = des.catalog.iloc[test].reset_index(drop=True).assign(
        y=y, p_cnn=cnn["p_lsbg"].to_numpy(), p_plus=p_plus)
    lsbg = t[t["y"] == 1]
    out = {"build": str(build), "n_test": len(t),
           "auc": {"cnn": _auc(t["y"], t["p_cnn"]), "plus": _auc(t["y"], t["p_plus"])},
           "subtypes": {}, "without_subtype": {}}
    for sub, art in t[t["y"] == 0].groupby("true_subtype"):
        both = pd.concat([lsbg, art])
        rest = t[t["true_subtype"] != sub]
        out["subtypes"][sub] = {
            "n_test": len(art),
            "auc_cnn": _auc(both["y"], both["p_cnn"]),
            "auc_plus": _auc(both["y"], both["p_plus"]),
            "called_lsbg_cnn": round(float((art["p_cnn"] > 0.5).mean()), 4),
            "called_lsbg_plus": round(float((art["p_plus"] > 0.5).mean()), 4)}
        out["without_subtype"][sub] = {"auc_cnn": _auc(rest["y"], rest["p_cnn"]),
                                       "auc_plus": _auc(rest["y"], rest["p_plus"])}
    bins = pd.qcut(lsbg["mu_mean_model_g"], 4)
    missed = lsbg.groupby(bins, observed=True)[["p_cnn", "p_plus"]].agg(
        lambda s: round(float((s < 0.5).mean()), 4))
    out["lsbg_missed_by_mu_mean_g_quartile"] = {
        f"{iv.left:.2f}-{iv.right:.2f}": row for iv, row in missed.to_dict("index").items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
