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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deepshadows/deepshadows/blob/main/notebooks/04_gradcam.ipynb)
#
# # 4. Grad-CAM: where does DeepShadows look?
#
# *DeepShadows*, Section 8. Gradient-weighted class activation maps (Grad-CAM, Selvaraju et
# al. 2017) of the last convolutional layer show which parts of a cutout drive the CNN's
# decision. We take high-confidence examples of the test set from notebook 2: true
# negatives and false negatives with P_out < 0.2, false positives and true positives with
# P_out > 0.8 (Fig. 6). The maps come from tf-keras-vis, with the output layer made linear.

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
from deepshadows_lib import gradcam, paper, pipeline, plots, training

cfg, stores, des, report = pipeline.start(
    "04_gradcam", profile=profile, data=data, n_per_class=n_per_class, epochs=epochs,
    seed=seed, build_dir=build_dir, figures_dir=figures_dir)
model = training.load_model(cfg.path("deepshadows.keras"))
pred = paper.load_predictions(cfg.path("predictions_test.parquet"))
pred.groupby("label")["p_lsbg"].describe()

# %%
examples = gradcam.gradcam_examples(model, des.images[pred["row"].to_numpy()],
                                    pred["label"].to_numpy(), pred["p_lsbg"].to_numpy(),
                                    n=cfg.profile.n_gradcam,
                                    seed=cfg.seed)
gradcam.count_examples(examples)

# %% [markdown]
# ## Fig. 6: high-confidence hits and misses with their Grad-CAM maps

# %%
fig6 = report.figure(plots.gradcam_grid(examples, simulated=report.simulated),
                     "fig6_gradcam", caption="Fig. 6: Grad-CAM maps of TN, FN, FP and TP")
fig6
