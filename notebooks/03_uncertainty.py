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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deepshadows/deepshadows/blob/main/notebooks/03_uncertainty.ipynb)
#
# # 3. Uncertainty: random splits and label noise
#
# *DeepShadows*, Section 7. How much do the CNN's numbers move with the choice of the
# training, validation and test sets (six random splits, random states 1, 3, 18, 33, 42,
# 96; Table 4), and how robust is it to wrong labels in the training set: flipped at
# random (1%, 5%, 10% and 33%; Table 5) or in one direction only (LSBGs called artifacts,
# artifacts called LSBGs)? Fig. 8 overlays the ROC curves; Fig. 9 shows the ratio of the
# true-positive rates of the noisy models to the noise-free one.

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
scheduler = None      # a Dask scheduler (tcp://HOST:8786) for the trainings; None: local

# %%
from deepshadows_lib import bn_stats, conclusions, notebook, plots, studies, tables

cfg, stores, des, report = notebook.start(
    "03_uncertainty", profile=profile, data=data, n_per_class=n_per_class, epochs=epochs,
    seed=seed, build_dir=build_dir, figures_dir=figures_dir)
prof = cfg.profile
epochs_cnn = prof.epochs_for(len(des.split["train"]))
print(f"{len(des.labels)} objects; seeds {list(prof.seeds)}; {epochs_cnn} epochs per run; "
      f"{prof.workers} trainings at a time")

# %% [markdown]
# ## Random splits (Table 4)

# %% tags=["table4_random_seeds"]
# notebook 2's model, when made by this run, is the random split of the run's own seed
known = studies.load_run(cfg.path("cnn_run.json"), run=cfg.run_id(stores["des"]))
seed_runs = studies.run_random_splits(des.images, des.labels, seeds=prof.seeds,
                                      epochs=epochs_cnn, batch_size=prof.batch_size,
                                      learning_rate=prof.learning_rate,
                                      bn_reestimate=prof.bn_reestimate, workers=prof.workers,
                                      scheduler=scheduler, ema_momentum=prof.ema_momentum,
                                      known=notebook.reusable_runs(known, seed=cfg.seed,
                                                                   split=des.split))
studies.save_results(seed_runs, cfg.path("random_splits.json"))
table4 = report.table(tables.table4(seed_runs), "table4_random_seeds",
                      caption="Table 4: the CNN on random splits (paper: accuracy "
                              "0.912-0.920)")
conclusions.report_verdicts(report, cfg, conclusions.seed_verdict(seed_runs),
                            data=stores["des"])
table4

# %% [markdown]
# ## Label noise (Table 5)
#
# The paper flips 300, 1,500, 3,000 and 10,000 of its 30,000 training labels at random,
# and 300, 1,500 and 3,000 in one direction; here the same fractions of our training set.
# Validation and test labels stay true.

# %% tags=["table5_label_noise"]
# the noise-free run is the random split of the run's own seed when that one was trained
noise_runs = studies.run_label_noise(des.images, des.labels, split=des.split,
                                     epochs=epochs_cnn, fractions=prof.noise_fractions,
                                     biased_fractions=prof.biased_noise_fractions,
                                     seed=cfg.seed, batch_size=prof.batch_size,
                                     learning_rate=prof.learning_rate,
                                     bn_reestimate=prof.bn_reestimate, workers=prof.workers,
                                     scheduler=scheduler, ema_momentum=prof.ema_momentum,
                                     clean=notebook.same_split_run(seed_runs, seed=cfg.seed,
                                                                   split=des.split))
studies.save_results(noise_runs, cfg.path("label_noise.json"))
table5 = report.table(tables.table5(noise_runs), "table5_label_noise",
                      caption="Table 5: the CNN trained with flipped labels")
conclusions.report_verdicts(
    report, cfg, *conclusions.noise_verdicts(noise_runs, n_test=len(des.split["test"])),
    data=stores["des"])
table5

# %% [markdown]
# Batch-norm statistics: each training's test accuracy and AUC with the moving averages
# of training (the paper) and re-estimated after training; the tables above use the
# profile's choice (`bn_reestimate`).

# %%
bn_stats.study_table(seed_runs + noise_runs)

# %% [markdown]
# ## Fig. 8: ROC curves of the random splits and of the noise levels

# %% tags=["fig8_roc_uncertainty"]
fig8 = report.figure(plots.draw_roc_families(
    tables.uncertainty_curves(seed_runs, noise_runs, reference_seed=cfg.seed),
    simulated=report.simulated), "fig8_roc_uncertainty",
    caption="Fig. 8: ROC curves for random splits and label noise")
fig8

# %% [markdown]
# ## Fig. 9: ratio of true-positive rates, noisy over noise-free model

# %% tags=["fig9_tpr_ratio"]
fpr, ratios = tables.noise_ratios(noise_runs)
fig9 = report.figure(plots.draw_tpr_ratio(fpr, ratios, xlim=(0, 0.5),
                                          ylabel=r"TPR$_{\rm noise}$ / TPR$_{\rm no\ noise}$",
                                          simulated=report.simulated),
                     "fig9_tpr_ratio", caption="Fig. 9: ratio of true-positive rates")
fig9
