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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deepshadows/deepshadows/blob/main/notebooks/01_file_creation.ipynb)
#
# # 1. File creation: the cutout stores
#
# *DeepShadows* (Tanoglidis, Ćiprijanović & Drlica-Wagner 2021), Section 2.
#
# The paper trained on 64x64 colour cutouts (g, r, z) of 20,000 DES LSBGs, 20,000 type-2
# artifacts (objects that passed the feature-based selection but were rejected by eye) and,
# in Appendix A, 20,000 type-1 artifacts (rejected by the feature-based SVM). The cutouts
# came from the Legacy Survey viewer as 256x256 JPEGs at 0.262"/pixel, resized to 64x64.
#
# This notebook writes the cutout **stores** that the other notebooks read. By default
# (`data = "synthetic"`) it simulates a DES-like and an HSC-like survey with GalSim; with
# `data = <path>` it uses a store of real cutouts downloaded with `deepshadows download`.

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
from deepshadows_lib import catalogs, notebook, plots

cfg = notebook.configure(profile=profile, data=data, n_per_class=n_per_class, epochs=epochs,
                         seed=seed, build_dir=build_dir, figures_dir=figures_dir)
cfg.profile

# %% [markdown]
# ## The stores
#
# A store is a chunked array of uint8 cutouts (N, 64, 64, 3) with a catalog table; real
# downloads and the synthetic survey write the same format. Simulating is resumable: an
# interrupted run continues where it stopped.

# %%
stores = notebook.prepare_data(cfg)
stores

# %%
report = cfg.reporter("01_file_creation", data=[stores["des"], stores["hsc"]])
des = notebook.load_problem(stores["des"], classes=("lsbg", "artifact2"), seed=cfg.seed)
three = notebook.load_problem(stores["des"], classes=("lsbg", "artifact2", "artifact1"),
                              seed=cfg.seed)
print(f"binary problem: {len(des.labels)} objects, split: {des.split['kind']}")

# %% [markdown]
# ## Table 1: the data sets
#
# Objects of each class in the training, validation and test sets (the paper: 30,000 /
# 5,000 / 5,000 for LSBGs vs artifacts, 45,000 / 7,500 / 7,500 for three classes).

# %% tags=["table1_data"]
table1 = report.table(notebook.data_table({"binary": des, "three-class": three}),
                      "table1_data", caption="Table 1: objects per set")
table1

# %% [markdown]
# ## Fig. 1: example cutouts
#
# LSBGs (top) and type-2 artifacts (bottom): diffuse light near bright stars, galaxy
# outskirts and knots, cirrus, blends of faint sources.

# %% tags=["fig1_examples"]
examples = notebook.example_panels(des, per_class=6, seed=cfg.seed)
fig1 = report.figure(plots.draw_example_cutouts(examples, simulated=report.simulated),
                     "fig1_examples", caption="Fig. 1: examples of LSBGs and artifacts")
fig1

# %% [markdown]
# ## How real is the synthetic survey?
#
# The only real DES cutouts at hand are the 36 of the paper's Fig. 6 (18 LSBGs, 18
# type-2 artifacts). `scripts/extract_real_stats.py` cut them out of the figure and
# wrote their per-image statistics (numbers only) to `Datasets/real_cutout_stats.csv`.
# The same statistics of this run's LSBGs and type-2 artifacts (measured after the same
# trip through a figure) stand beside them: the real median and interquartile range,
# the synthetic median, and whether it lies inside that range. A random forest on the
# statistics tries to tell real from synthetic cutouts (cross-validated AUC; 0.5:
# indistinguishable). With 36 real images the AUC is uncertain by ~0.05 and says
# nothing about properties the statistics do not measure.

# %% tags=["realism_statistics"]
from deepshadows_lib import realism

comparison = realism.realism_report(des.images[:400], des.catalog.iloc[:400], seed=cfg.seed)
realism_table = report.table(comparison["table"], "realism_statistics",
                             caption="Per-image statistics: 36 real DES cutouts (Fig. 6) "
                                     "vs this run's LSBGs and type-2 artifacts")
report.json(comparison["auc"], "realism_auc",
            caption="Cross-validated AUC of a real-vs-synthetic classifier on the statistics")
print(f"real vs synthetic AUC: {comparison['auc']['auc']:.3f} "
      f"(+- {comparison['auc']['auc_std']:.3f} over fold shuffles; "
      f"{comparison['auc']['n_real']} real, {comparison['auc']['n_synthetic']} synthetic)")
print(f"goal (every synthetic median inside the real IQR, AUC <= "
      f"{comparison['goal']['auc_max']}): {'met' if comparison['passes'] else 'NOT met'}")
realism_table

# %% [markdown]
# Cutouts of each class of this run: LSBGs, type-2 artifacts (passed the feature
# selection, rejected by eye) and type-1 artifacts (rejected by the feature selection).

# %% tags=["realism_examples"]
classes = notebook.example_panels(three, per_class=6, seed=cfg.seed)
fig_classes = report.figure(
    plots.draw_example_cutouts(classes, simulated=report.simulated),
    "realism_examples", caption="Cutouts of each class of this run")
fig_classes

# %% [markdown]
# ## Where the paper's objects are
#
# The sky positions of the paper's baseline split, from the shipped catalogs (real
# positions of the DES objects; only their labels are missing from the public files).

# %% tags=["data_sky_distribution"]
positions = catalogs.load_baseline_splits()
sky_report = cfg.reporter("01_file_creation", simulated=False,
                          data={"source": "Datasets/Baseline_*.csv"})
fig_sky = sky_report.figure(plots.draw_sky_distribution(positions), "data_sky_distribution",
                            caption="Sky positions of the baseline training, validation "
                                    "and test sets (real DES positions)")
fig_sky
