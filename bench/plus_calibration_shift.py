"""Diagnostic: is the paper CNN's miscalibration on the default profile a scale or a shift?

Trains the paper's CNN on the default profile's synthetic survey (seed 42, as notebook
02 and bench_plus.py), then compares the mean probability per class on validation and
test, and a logistic recalibration with a bias term (Platt scaling, fitted on the
validation set) on the test set.  Prints JSON (saved as bench/plus_calibration_shift.json).

    python bench/plus_calibration_shift.py > bench/plus_calibration_shift.json
"""
import numpy as np, json
from deepshadows_lib import pipeline, training, calibration
from sklearn.linear_model import LogisticRegression
cfg = pipeline.configure(profile="default", seed=42, build_dir="/tmp/deepshadows_plus_default", figures_dir="/tmp/deepshadows_plus_default_figures")
stores = pipeline.prepare_data(cfg, progress=False)
des = pipeline.load_problem(stores["des"], seed=42)
p = cfg.profile
m, h = training.train_cnn(des.images, des.labels, train_idx=des.split["train"], val_idx=des.split["validation"], epochs=p.epochs, batch_size=p.batch_size, learning_rate=p.learning_rate, seed=42, progress=False)
out = {"val_acc_last5": h["val_accuracy"][-5:], "acc_last5": h["accuracy"][-5:]}
for name in ("validation", "test"):
    r = des.split[name]; y = des.labels[r]; q = training.predict(m, des.images, indices=r)
    out[name] = {"mean_p_lsbg": float(q[y==1].mean()), "mean_p_artifact": float(q[y==0].mean()),
                 "acc": float(((q>0.5)==y).mean()), "ece": calibration.expected_calibration_error(y, q)}
    if name == "validation":
        lr = LogisticRegression(C=1e6).fit(calibration.logit(q)[:, None], y); yv = y
    else:
        qp = lr.predict_proba(calibration.logit(q)[:, None])[:, 1]
        out["test"]["platt_acc"] = float(((qp>0.5)==y).mean()); out["test"]["platt_ece"] = calibration.expected_calibration_error(y, qp)
        out["test"]["platt_coef"] = [float(lr.coef_[0,0]), float(lr.intercept_[0])]
print(json.dumps(out, indent=1))
