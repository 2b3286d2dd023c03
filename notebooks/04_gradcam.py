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
from deepshadows_lib import (conclusions, gradcam, notebook, occlusion, plots, tables,
                             training)

cfg, stores, des, report = notebook.start(
    "04_gradcam", profile=profile, data=data, n_per_class=n_per_class, epochs=epochs,
    seed=seed, build_dir=build_dir, figures_dir=figures_dir)
model = training.load_model(cfg.path("deepshadows.keras"))
pred = tables.load_predictions(cfg.path("predictions_test.parquet"))
images_test, y_test, p_test = notebook.test_set(des, pred)
pred.groupby("label")["p_lsbg"].describe()

# %%
examples = gradcam.gradcam_examples(model, images_test, y_test, p_test,
                                    n=cfg.profile.n_gradcam, seed=cfg.seed,
                                    method=cfg.profile.cam_method)
gradcam.count_examples(examples)

# %% [markdown]
# ## Fig. 6: high-confidence hits and misses with their Grad-CAM maps

# %% tags=["fig6_gradcam"]
map_name = conclusions.MAP_NAMES[cfg.profile.cam_method]
fig6 = report.figure(plots.draw_gradcam_grid(examples, simulated=report.simulated,
                                             map_name=map_name),
                     "fig6_gradcam", caption=f"Fig. 6: {map_name} maps of TN, FN, FP and TP")
fig6

# %% [markdown]
# ## Does the map sit on the galaxy?
#
# For up to `gradcam_max` confident true positives (LSBGs with P_out > 0.8): the share of
# each map within 12 pixels of the centre, where the LSBG sits, beside the share of that
# disc in the image (what a map blind to position gets). Three maps of the same examples:
#
# * Grad-CAM as in the paper: each channel of conv3 weighted by its gradient averaged over
#   the image;
# * HiResCAM (Draelos & Carin 2020): the gradient kept at each position. DeepShadows
#   flattens conv3's maps into a dense layer, so one channel can count for an LSBG at the
#   centre and against it around it (a neighbour); Grad-CAM's average over the image is
#   then ruled by the surroundings, most of the image, and the centre gets a negative
#   weight that the final ReLU removes. HiResCAM does not average;
# * occlusion sensitivity, independent of gradients: a patch of sky slid over the cutout,
#   and the drop of the LSBG logit where it covers.
#
# Fig. 6 and the verdict table use the profile's `cam_method`.

# %% tags=["gradcam_centre_verdict"]
centre = gradcam.centre_evidence(model, images_test, y_test, p_test,
                                 n_max=cfg.profile.gradcam_max, seed=cfg.seed)
conclusions.report_verdicts(
    report, cfg, conclusions.gradcam_verdict(centre, method=cfg.profile.cam_method),
    data=stores["des"])
centre["table"]

# %% [markdown]
# What each region carries: the test set with the central disc (12 px) replaced by the
# cutout's median sky, and with everything outside it replaced. A model that decides from
# the surroundings keeps its accuracy with the centre hidden.

# %%
occlusion.hidden_region_accuracy(model, images_test, y_test)
