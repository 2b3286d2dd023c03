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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/deepshadows/deepshadows/blob/main/notebooks/05_three_class.ipynb)
#
# # 5. Three classes: LSBGs and two kinds of artifacts
#
# *DeepShadows*, Appendix A. Type-1 artifacts were rejected by the feature-based SVM of the
# LSBG search, type-2 artifacts passed it and were rejected by eye (Fig. A10 shows type-1
# examples). The same network with a three-way softmax head learns the three classes
# (45,000 / 7,500 / 7,500 objects in the paper); Fig. A11 shows its confusion matrix and
# the matrix reduced to LSBGs vs all artifacts.

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
from deepshadows_lib import conclusions, notebook, plots, studies, tables

cfg, stores, three, report = notebook.start(
    "05_three_class", classes=("lsbg", "artifact2", "artifact1"), profile=profile, data=data,
    n_per_class=n_per_class, epochs=epochs, seed=seed, build_dir=build_dir,
    figures_dir=figures_dir)
print(notebook.split_sizes(three))

# %% [markdown]
# ## Fig. A10: type-1 artifacts

# %% tags=["figA10_type1_examples"]
examples = notebook.type1_examples(three, n=12, seed=cfg.seed)
figA10 = report.figure(plots.draw_example_cutouts(examples, simulated=report.simulated),
                       "figA10_type1_examples", caption="Fig. A10: examples of type-1 artifacts")
figA10

# %% [markdown]
# ## Training the three-class model

# %% [markdown]
# The paper trains the three-class model for as many epochs as the binary one (100). Under
# a step budget (`train_steps`) it gets the binary CNN's epochs (notebook 2), so that it
# sees each object as often as that model does, rather than the same number of steps
# spread over half again as many objects.

# %% tags=["tableA_three_class"]
binary_run = studies.load_run(cfg.path("cnn_run.json"))  # notebook 2's CNN, this build
epochs_three = notebook.epochs_like_binary(cfg.profile, binary_run=binary_run, problem=three)
print(f"{epochs_three} epochs of {len(three.split['train'])} objects "
      f"({'as notebook 2' if binary_run else 'notebook 2 not run: own budget'})")
result = studies.run_three_class(three.images, three.labels, split=three.split,
                                 epochs=epochs_three,
                                 seed=cfg.seed, batch_size=cfg.profile.batch_size,
                                 learning_rate=cfg.profile.learning_rate,
                                 bn_reestimate=cfg.profile.bn_reestimate,
                                 ema_momentum=cfg.profile.ema_momentum)
tableA = report.table(tables.three_class_table(result), "tableA_three_class",
                      caption="Appendix A: three-class accuracy (paper: about 0.88)")
tableA

# %% [markdown]
# The reduced (LSBG vs artifact) accuracy beside the binary CNN's of notebook 2 (on its
# own test set), for the verdict table; and the three-class model with either
# batch-norm statistics.

# %% tags=["three_class_verdict"]
binary = tables.load_predictions(cfg.path("predictions_test.parquet"))
conclusions.report_verdicts(report, cfg, conclusions.three_class_verdict(result, binary),
                            data=stores["des"])
tables.three_class_bn_table(result)

# %% [markdown]
# ## Fig. A11: three-class and reduced confusion matrices

# %% tags=["figA11_three_class"]
figA11 = report.figure(plots.draw_confusion_matrices({
    "Three classes": (result["confusion"], ("Artifact 2", "LSBG", "Artifact 1")),
    "LSBG vs artifact (reduced)": (result["reduced_confusion"], ("Artifact", "LSBG")),
}, simulated=report.simulated), "figA11_three_class",
    caption="Fig. A11: three-class confusion matrix and its LSBG vs artifact reduction")
figA11
