# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deepshadows/deepshadows/blob/main/notebooks/06_beyond.ipynb)
#
# # 6. Beyond the paper: an augmented, calibrated DeepShadows ensemble
#
# The paper trains its CNN once, without augmentation, and reads the sigmoid output as a
# probability. Here a second recipe, **plus**, is trained on the same data and split:
# the eight rotations and flips of each cutout as augmentation (no interpolation),
# predictions averaged over those eight views (test-time augmentation), an ensemble of K
# independently seeded networks, and a calibration fitted on the validation set
# (the profile's `plus_calibration`: temperature scaling; Platt scaling, a temperature and
# a bias; or an isotonic map).
# An ablation measures each addition on the same test set with bootstrap intervals, the
# calibration of both models is measured before and after scaling, every object gets an
# uncertainty (spread over members and views), and plus is moved to HSC and looked at
# with Grad-CAM. The trained ensemble is saved with its provenance for `deepshadows
# predict`.

# %%
# Colab only: install the project (with its pinned requirements) into the Colab runtime.
import os
import sys

if "google.colab" in sys.modules and not os.path.exists("/content/deepshadows"):
    import subprocess
    subprocess.run(["git", "clone", "--depth", "1",
                    "https://github.com/deepshadows/deepshadows", "/content/deepshadows"],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c",
                    "/content/deepshadows/requirements/constraints.txt",
                    "-e", "/content/deepshadows"], check=True)
    sys.path.insert(0, "/content/deepshadows")
    os.chdir("/content/deepshadows/notebooks")

# %% tags=["parameters"]
profile = "default"   # smoke, default or paper (deepshadows_lib/profiles.py)
data = "synthetic"    # "synthetic", or the path of a store of real DES cutouts
n_per_class = None    # objects per class; None: the profile's
epochs = None         # CNN training epochs; None: the profile's
seed = 42             # one seed reproduces the whole run
build_dir = None      # where notebooks pass results on; None: ../build/<profile>
figures_dir = None    # None: ../figures
scheduler = None      # a Dask scheduler (tcp://HOST:8786) for the members; None: local

# %%
from deepshadows_lib import conclusions, notebook, plots, plus, tables, training

cfg, stores, des, report = notebook.start(
    "06_beyond", profile=profile, data=data, n_per_class=n_per_class, epochs=epochs,
    seed=seed, build_dir=build_dir, figures_dir=figures_dir)
train_rows, y_train = des.subset("train")
val_rows, y_val = des.subset("validation")
test_rows, y_test = des.subset("test")
paper_cnn = training.load_model(cfg.path("deepshadows.keras"))  # notebook 02's model
epochs_plus = cfg.profile.epochs_for(len(train_rows))  # the paper CNN's budget (notebook 02)
print(f"{len(train_rows)} training, {len(val_rows)} validation, {len(test_rows)} test objects "
      f"({des.split['kind']} split); ensemble of {cfg.profile.n_ensemble}, "
      f"head {cfg.profile.plus_head!r}, {epochs_plus} epochs per member, batch-norm "
      f"statistics {'re-estimated' if cfg.profile.bn_reestimate else 'as trained'}, "
      f"{cfg.profile.plus_calibration} calibration")

# %% [markdown]
# ## Training plus
#
# The paper's optimiser, loss, batch size and number of epochs (or the profile's step
# budget, as for notebook 2's CNN) for every member; only
# the input pipeline (a random rotation/flip of every cutout, drawn anew each epoch) and
# the seeds differ. The calibration is fitted on the validation set.

# %%
# the one-network head variant of the ablation trains beside the ensemble's members
plus_model, head_variant = plus.train_ensembles(
    des.images, des.labels, train_idx=train_rows, val_idx=val_rows, epochs=epochs_plus,
    ensembles=[{"n_members": cfg.profile.n_ensemble, "head": cfg.profile.plus_head},
               {"n_members": 1, "head": notebook.other_head(cfg.profile.plus_head)}],
    batch_size=cfg.profile.batch_size, learning_rate=cfg.profile.learning_rate, seed=cfg.seed,
    bn_reestimate=cfg.profile.bn_reestimate, ema_momentum=cfg.profile.ema_momentum,
    calibration=cfg.profile.plus_calibration, workers=cfg.profile.workers,
    scheduler=scheduler)
print(plus_model.calibration_summary())

# %% [markdown]
# ## Ablation: each addition on the same test set
#
# Rows add one step at a time to the one above; 95% bootstrap intervals of the test set.
# Temperature scaling moves no decision at 0.5 and no ranking: it changes only the
# calibration columns. A bias (Platt scaling) or an isotonic map moves the decisions at
# 0.5 (an isotonic map's ties can lower the AUC a little); the paper's CNN is calibrated
# the same way on the same validation set, so that the calibration's share of a gain is not credited to the other
# additions. The last row swaps the head (global average pooling instead of
# Flatten -> Dense 1024, or back) on one network with test-time augmentation; it is kept
# only if it helps.

# %% tags=["beyond_ablation"]
ablation = plus.ablation(plus_model, des.images, des.labels, test_idx=test_rows,
                         val_idx=val_rows, paper_model=paper_cnn, gap=head_variant,
                         n_bootstrap=cfg.profile.n_bootstrap, seed=cfg.seed)
table_ablation = report.table(plus.ablation_table(ablation), "beyond_ablation",
                              caption="Ablation of plus on the test set (95% bootstrap "
                                      f"intervals, {cfg.profile.n_bootstrap} resamples)")
print(f"head kept: {plus.head_decision(ablation)}")
table_ablation

# %% [markdown]
# ## ROC curves with bootstrap bands

# %% tags=["beyond_roc"]
roc, boots = tables.roc_curves_with_bands(tables.plus_scores(ablation),
                                          n_bootstrap=cfg.profile.n_bootstrap, seed=cfg.seed)
fig_roc = report.figure(plots.draw_roc_curves(roc, simulated=report.simulated), "beyond_roc",
                        caption="ROC curves of the paper's CNN and plus with bootstrap bands")
fig_roc

# %% [markdown]
# ## Calibration before and after scaling
#
# Expected calibration error (15 equal-width bins), Brier score and negative
# log-likelihood on the test set; every calibration is fitted on the validation set.

# %% tags=["beyond_calibration"]
table_calibration = report.table(plus.calibration_table(ablation), "beyond_calibration",
                                 caption="Calibration of the paper's CNN and plus, before "
                                         "and after calibration (test set)")
table_calibration

# %% tags=["beyond_reliability"]
fig_rel = report.figure(plots.draw_reliability_diagram(plus.reliability_panels(ablation),
                                                       simulated=report.simulated),
                        "beyond_reliability",
                        caption="Reliability diagrams before and after calibration")
fig_rel

# %% [markdown]
# ## Per-object uncertainty
#
# The standard deviation of the calibrated probabilities of the members and the
# eight views. Sorted into quartiles, the most uncertain objects should be the least
# accurate ones.

# %% tags=["beyond_uncertainty"]
table_uncertainty = report.table(
    plus.uncertainty_table(ablation["y"], ablation["p_plus"], ablation["uncertainty"]),
    "beyond_uncertainty", caption="Test accuracy of plus by quartile of its uncertainty")
table_uncertainty

# %% [markdown]
# ## Seeds: how much does plus move when retrained?

# %% tags=["beyond_seeds"]
seeds_table = plus.seed_spread(
    des.images, des.labels, split=des.split,
    seeds=plus.spread_seeds(cfg.seed, cfg.profile.seeds, cfg.profile.n_plus_seeds),
    epochs=epochs_plus, batch_size=cfg.profile.batch_size,
    learning_rate=cfg.profile.learning_rate, n_members=cfg.profile.n_ensemble,
    head=cfg.profile.plus_head, first=(cfg.seed, plus_model),
    first_predictions=ablation["p_plus"],
    bn_reestimate=cfg.profile.bn_reestimate, ema_momentum=cfg.profile.ema_momentum,
    calibration=cfg.profile.plus_calibration, workers=cfg.profile.workers,
    scheduler=scheduler)
report.table(seeds_table, "beyond_seeds", caption=plus.seeds_caption(seeds_table))

# %% [markdown]
# ## The targets, as measured in this run

# %% tags=["beyond_targets"]
report.table(plus.targets(ablation, seeds_table), "beyond_targets",
             caption="Targets of plus beside this run's numbers")

# %% [markdown]
# ## Transfer to HSC with plus
#
# The same fine-tuning and test objects as notebook 2 (Table 6); every member is
# fine-tuned as the paper fine-tunes its CNN, the ensemble keeps its views and its
# calibration.

# %% tags=["beyond_hsc_table"]
hsc = notebook.load_problem(stores["hsc"], classes=("lsbg", "artifact2"), seed=cfg.seed)
hsc_report = cfg.reporter("06_beyond", data=stores["hsc"])
transfer = plus.hsc_transfer(plus_model, hsc.images, hsc.labels,
                             n_finetune=cfg.profile.n_finetune,
                             epochs=cfg.profile.finetune_epochs,
                             batch_size=cfg.profile.finetune_batch_size,
                             learning_rate=cfg.profile.finetune_learning_rate, seed=cfg.seed,
                             bn_reestimate=cfg.profile.bn_reestimate)
hsc_report.table(tables.table6(transfer), "beyond_hsc_table",
                 caption="plus on HSC test objects before and after fine-tuning")

# %% tags=["beyond_hsc_transfer"]
fig_hsc = hsc_report.figure(plots.draw_hsc_transfer(tables.hsc_transfer_panels(transfer),
                                                    simulated=hsc_report.simulated),
                            "beyond_hsc_transfer",
                            caption="plus on HSC: confusion matrices before and after "
                                    "fine-tuning, and ROC curves")
fig_hsc

# %% [markdown]
# ## Grad-CAM of plus
#
# High-confidence hits and misses of the ensemble; each map is the mean of the members'
# maps of the last convolution, by the profile's method (`cam_method`: Grad-CAM, or
# HiResCAM where notebook 4 shows that Grad-CAM misreads this network).

# %% tags=["beyond_gradcam"]
examples = plus.gradcam_examples(plus_model, des.images[test_rows], y_test,
                                 ablation["p_plus"], n=cfg.profile.n_gradcam, seed=cfg.seed,
                                 method=cfg.profile.cam_method)
map_name = conclusions.MAP_NAMES[cfg.profile.cam_method]
fig_cam = report.figure(plots.draw_gradcam_grid(examples, simulated=report.simulated,
                                                map_name=map_name),
                        "beyond_gradcam", caption=f"{map_name} of plus: TN, FN, FP and TP")
fig_cam

# %% [markdown]
# ## The trained ensemble, with its provenance
#
# One `.keras` file (the K networks side by side) and its JSON sidecar: recipe, profile,
# data hash, split, test metrics, calibration (temperature and bias), library versions
# and the file's SHA-256.
# Classify your own cutouts with
# `deepshadows predict --model build/<profile>/plus.keras --out predictions.csv IMAGES...`.

# %%
saved = plus.save_plus(plus_model, cfg.path("plus.keras"), provenance={
    "profile": cfg.profile.name, "data": stores["des"], "split": des.split,
    "metrics": {"test": tables.plus_test_metrics(ablation)},
    "seed": cfg.seed, "epochs": epochs_plus})
print(f"saved {saved} and {saved.with_suffix('.json').name}")
