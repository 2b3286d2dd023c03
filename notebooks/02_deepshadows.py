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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deepshadows/deepshadows/blob/main/notebooks/02_deepshadows.ipynb)
#
# # 2. DeepShadows: feature baselines, the CNN, bootstrap, HSC transfer
#
# *DeepShadows*, Sections 4-6. On the baseline split of LSBGs and type-2 artifacts we
# train the paper's feature-based SVM and random forest (16 SourceExtractor features) and
# the DeepShadows CNN on the cutouts; compare them (Table 2, Fig. 4, Fig. 5), put
# bootstrap intervals on the CNN's metrics (Table 3), and move the DES model to the deeper
# HSC survey, before and after fine-tuning on a few hundred objects (Table 6, Fig. 7).

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

# %%
from deepshadows_lib import (bn_stats, conclusions, evaluate, features, models, notebook,
                             plots, studies, tables, training)

cfg, stores, des, report = notebook.start(
    "02_deepshadows", profile=profile, data=data, n_per_class=n_per_class, epochs=epochs,
    seed=seed, build_dir=build_dir, figures_dir=figures_dir)
train_rows, y_train = des.subset("train")
val_rows, y_val = des.subset("validation")
test_rows, y_test = des.subset("test")
print(f"{len(train_rows)} training, {len(val_rows)} validation, {len(test_rows)} test objects "
      f"({des.split['kind']} split)")

# %% [markdown]
# ## Feature-based models (Section 4)
#
# SVM (RBF kernel, C = 10^4, gamma = 10^-3) and random forest (100 trees, min_samples_split
# = 10) on the 16 standardised features: ellipticity, mag_auto and colours, and the mean,
# central and effective surface brightness in g, r, i.

# %%
X = features.paper_features(des.catalog)
baselines = studies.baseline_models(X.iloc[train_rows], y_train, X.iloc[test_rows], y_test,
                                    seed=cfg.seed)
X.describe().T[["mean", "std", "min", "max"]]

# %% [markdown]
# ## The DeepShadows CNN (Section 5, Fig. 2)
#
# Three convolutional blocks (16, 32, 64 filters, 3x3, L2 0.13, batch normalisation,
# 2x2 max pooling, dropout 0.4), a dense layer of 1,024 units (L2 0.12) and a sigmoid
# output: 4,220,385 parameters. The figure is drawn from the model itself.

# %% tags=["fig2_architecture"]
arch_report = cfg.reporter("02_deepshadows", simulated=False,
                           data={"source": "deepshadows_lib.models.build_deepshadows"})
fig2 = arch_report.figure(plots.draw_architecture(models.build_deepshadows(1)), "fig2_architecture",
                          caption="Fig. 2: the DeepShadows architecture (no data involved)")
fig2

# %% [markdown]
# Adadelta (learning rate 0.1), binary cross-entropy, batches of 64, a fixed number of
# epochs (100 in the paper) and the model of the last epoch. A profile may instead give a
# budget of optimiser steps (`train_steps`), spent in whole epochs over its sample, and
# end the training with a moving average of the weights over its last ~100 steps
# (`ema_momentum`, a deviation from the paper: after a short training the last step's
# weights put each run at its own operating point; `bench/weight_averaging.json`).

# %%
epochs_cnn = cfg.profile.epochs_for(len(train_rows))
print(f"{epochs_cnn} epochs of {len(train_rows)} objects "
      f"({epochs_cnn * -(-len(train_rows) // cfg.profile.batch_size)} optimiser steps)")
model, history = training.train_cnn(des.images, des.labels, train_idx=train_rows,
                                    val_idx=val_rows, epochs=epochs_cnn,
                                    batch_size=cfg.profile.batch_size,
                                    learning_rate=cfg.profile.learning_rate, seed=cfg.seed,
                                    ema_momentum=cfg.profile.ema_momentum)

# %% [markdown]
# ### Batch-normalisation statistics (a deviation from the paper, `bn_reestimate`)
#
# At inference each batch-norm layer uses the moving averages of its input's mean and
# variance kept during training. After a short training they lag the weights (the L2 of
# 0.13 shrinks the kernels at every step; the paper trained ~47,000 steps). Re-estimating
# them after training, on the training images, layer by layer, in inference mode
# (`bn_stats.reestimate_batch_norm`) changes no weight. Both sets of numbers are shown; the
# figures use the profile's choice (the paper profile keeps the moving averages).

# %%
bn = bn_stats.compare(model, des.images, train_idx=train_rows, test_idx=test_rows,
                      y_test=y_test, apply=cfg.profile.bn_reestimate)
training.save_model(model, cfg.path("deepshadows.keras"))
p_test = bn["p"]
# notebook 3 reuses this training as its random split of the same seed
studies.save_results(studies.cnn_run(p_test, bn["p_moving"], bn["p_reestimated"],
                                     seed=cfg.seed, train_idx=train_rows, test_idx=test_rows,
                                     history=history, run=cfg.run_id(stores["des"])),
                     cfg.path("cnn_run.json"))
bn["table"]

# %% tags=["fig3_training"]
tables.save_predictions(cfg.path("predictions_test.parquet"), des.catalog, test_rows, y_test,
                       p_test)
report.json(history, "fig3_training_history", caption="Per-epoch loss and accuracy")
fig3 = report.figure(plots.draw_training_curves(history, simulated=report.simulated),
                     "fig3_training",
                     caption="Fig. 3: training and validation loss and accuracy")
fig3

# %% [markdown]
# ## Table 2: the three models on the test set

# %% tags=["table2_metrics"]
scores = tables.test_scores(y_test, baselines=baselines, cnn=p_test)
table2 = report.table(tables.table2(scores), "table2_metrics",
                      caption="Table 2: test-set metrics (this run beside the paper)")
conclusions.report_verdicts(report, cfg, *conclusions.model_verdicts(scores),
                            data=stores["des"])
table2

# %% [markdown]
# ## Fig. 4: ROC curves with bootstrap bands, and the CNN's confusion matrix
#
# Bands: 95% of the ROC curves of bootstrap resamples of the test set (Table 3 gives the
# intervals of the metrics).

# %% tags=["fig4_roc"]
roc, boots = tables.roc_curves_with_bands(scores, n_bootstrap=cfg.profile.n_bootstrap,
                                         seed=cfg.seed)
fig4 = report.figure(plots.draw_roc_curves(roc, simulated=report.simulated), "fig4_roc",
                     caption="Fig. 4: ROC curves of the CNN, SVM and RF with bootstrap bands")
fig4

# %% tags=["fig4_confusion"]
cm = evaluate.binary_confusion(y_test, p_test, threshold=tables.THRESHOLD)
fig4b = report.figure(plots.draw_confusion_matrix(cm, normalize=True,
                                                  title="DeepShadows, test set",
                                                  simulated=report.simulated),
                      "fig4_confusion", caption="Fig. 4: confusion matrix of the CNN")
fig4b

# %% [markdown]
# ## Table 3: bootstrap 95% intervals

# %% tags=["table3_bootstrap"]
table3 = report.table(tables.table3(boots), "table3_bootstrap",
                      caption=f"Table 3: bootstrap 95% intervals "
                              f"({cfg.profile.n_bootstrap} resamples of the test set)")
table3

# %% [markdown]
# ## Fig. 5: the CNN's output probability for each true class

# %% tags=["fig5_probabilities"]
fig5 = report.figure(plots.draw_probability_histogram(y_test, p_test, simulated=report.simulated),
                     "fig5_probabilities", caption="Fig. 5: distribution of the CNN output")
fig5

# %% [markdown]
# ## Transfer to HSC (Section 6, Table 6, Fig. 7)
#
# HSC is deeper and has sharper seeing than DES, and the viewer renders it with its own
# colours: the DES model first classifies HSC cutouts as they are, then a copy of it is
# fine-tuned (every layer; Adadelta, learning rate 0.005, 30 epochs, batches of 16) on a
# few hundred HSC objects (320 in the paper) and tested on the rest.

# %% tags=["table6_hsc_transfer"]
hsc = notebook.load_problem(stores["hsc"], classes=("lsbg", "artifact2"), seed=cfg.seed)
hsc_report = cfg.reporter("02_deepshadows", data=stores["hsc"])
transfer = studies.hsc_transfer(model, hsc.images, hsc.labels,
                                n_finetune=cfg.profile.n_finetune,
                                epochs=cfg.profile.finetune_epochs,
                                batch_size=cfg.profile.finetune_batch_size,
                                learning_rate=cfg.profile.finetune_learning_rate, seed=cfg.seed,
                                bn_reestimate=cfg.profile.bn_reestimate)
table6 = hsc_report.table(tables.table6(transfer), "table6_hsc_transfer",
                          caption="Table 6: HSC test objects before and after fine-tuning")
conclusions.report_verdicts(report, cfg, conclusions.transfer_verdict(transfer),
                            data=stores["des"])
table6

# %% [markdown]
# The fine-tuned copy with the moving averages of its fine-tuning, and with statistics
# re-estimated on the HSC fine-tuning objects:

# %%
tables.transfer_bn_table(transfer, bn_reestimate=cfg.profile.bn_reestimate)

# %% tags=["fig7_hsc_transfer"]
fig7 = hsc_report.figure(plots.draw_hsc_transfer(tables.hsc_transfer_panels(transfer),
                                                 simulated=hsc_report.simulated),
                         "fig7_hsc_transfer",
                         caption="Fig. 7: HSC confusion matrices before and after "
                                 "fine-tuning, and ROC curves")
fig7
