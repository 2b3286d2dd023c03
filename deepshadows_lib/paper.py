"""Every number of the paper, in one place.

Tanoglidis, Ćiprijanović & Drlica-Wagner (2021), "DeepShadows: Separating Low Surface
Brightness Galaxies from Artifacts using Deep Learning", Astronomy & Computing 35, 100469
(arXiv:2011.12437).  The data sizes, the network and its training (Sections 3 and 5), and
the results of Tables 2-6, Figs. 4 and A10.  The rest of the package reads these names; it
writes none of these numbers itself.  Only facts live here: the tables of this run beside
the paper's are built by :mod:`deepshadows_lib.tables`.
"""

import numpy as np
import pandas as pd

from . import PAPER

__all__ = [
    "CITATION", "N_PER_CLASS", "N_TRAIN", "N_VALIDATION", "N_TEST", "SEEDS",
    "N_HSC_PER_CLASS", "N_HSC_FINETUNE", "NOISE_FRACTIONS", "BIASED_NOISE_FRACTIONS",
    "N_PARAMS", "FILTERS", "KERNEL_SIZE", "CONV_L2", "DENSE_L2", "DROPOUT", "DENSE_UNITS",
    "EPOCHS", "BATCH_SIZE", "LEARNING_RATE", "FINETUNE_EPOCHS", "FINETUNE_BATCH_SIZE",
    "FINETUNE_LEARNING_RATE", "N_BOOTSTRAP", "SVM_C", "SVM_GAMMA", "RF_TREES",
    "RF_MIN_SAMPLES_SPLIT", "PAPER_N_PARAMS", "PAPER_SEEDS", "PAPER_N_TRAIN",
    "PAPER_TABLE2", "PAPER_CONFUSION", "PAPER_BOOTSTRAP", "PAPER_SEEDS_ACCURACY",
    "PAPER_LABEL_NOISE", "PAPER_HSC", "PAPER_THREE_CLASS_ACCURACY",
]

CITATION = PAPER  # written in the package's __init__, which must stay light to import

# --------------------------------------------------------------------------- data
#: Objects per class drawn from the DES catalogs (Section 3).
N_PER_CLASS = 20_000
#: The binary problem's split: 30,000 training, 5,000 validation, 5,000 test objects.
N_TRAIN, N_VALIDATION, N_TEST = 30_000, 5_000, 5_000
#: Random states of the random-split study (Section 7.1).
SEEDS = (1, 3, 18, 33, 42, 96)
#: HSC transfer (Section 7.3): 640 objects per class, 320 of them for fine-tuning.
N_HSC_PER_CLASS = 640
N_HSC_FINETUNE = 320
#: Label noise (Section 7.2): fractions of the training labels flipped at random (300,
#: 1,500, 3,000 and 10,000 of 30,000), and in one direction only.
NOISE_FRACTIONS = (0.01, 0.05, 0.10, 1 / 3)
BIASED_NOISE_FRACTIONS = (0.01, 0.05, 0.10)

# --------------------------------------------------------------------------- the network
#: Trainable + non-trainable parameters of the binary model (Section 5).
N_PARAMS = 4_220_385
#: Filters of the three convolutional blocks (3x3 kernels, padding "same", ReLU).
FILTERS = (16, 32, 64)
KERNEL_SIZE = 3
#: L2 regularisation of the convolutions and of the dense layer.
CONV_L2 = 0.13
DENSE_L2 = 0.12
DROPOUT = 0.4
DENSE_UNITS = 1024

# --------------------------------------------------------------------------- training
EPOCHS = 100          # no early stopping: the last epoch's model is kept
BATCH_SIZE = 64
LEARNING_RATE = 0.1   # Adadelta
#: Fine-tuning on HSC (Section 7.3).
FINETUNE_EPOCHS = 30
FINETUNE_BATCH_SIZE = 16
FINETUNE_LEARNING_RATE = 0.005
#: Bootstrap resamples of the test set (Table 3).
N_BOOTSTRAP = 1000
#: The baselines (Section 4): RBF SVM and random forest on 16 standardised features.
SVM_C = 1e4
SVM_GAMMA = 1e-3
RF_TREES = 100
RF_MIN_SAMPLES_SPLIT = 10

# --------------------------------------------------------------------------- results
#: Table 2: DES test set (5,000 objects), threshold 0.5.
PAPER_TABLE2 = pd.DataFrame(
    {"accuracy": [0.819, 0.797, 0.920], "recall": [0.867, 0.804, 0.944],
     "precision": [0.796, 0.797, 0.903], "auc": [0.894, 0.872, 0.974]},
    index=pd.Index(["SVM", "Random forest", "DeepShadows"], name="model"))

#: DeepShadows' confusion counts on the DES test set (Fig. 4).
PAPER_CONFUSION = {"tn": 2196, "fp": 258, "fn": 142, "tp": 2404}

#: Table 3: 95% bootstrap intervals (1,000 resamples of the test set), DeepShadows.
PAPER_BOOTSTRAP = {"accuracy": (0.912, 0.928), "auc": (0.970, 0.974)}

#: Table 4: range of test accuracy over the six random splits of :data:`SEEDS`.
PAPER_SEEDS_ACCURACY = (0.912, 0.920)

#: Table 5: fraction of training labels flipped at random -> test accuracy and AUC.
PAPER_LABEL_NOISE = pd.DataFrame(
    {"accuracy": [0.918, 0.914, 0.909, 0.883], "auc": [0.974, 0.970, 0.969, 0.950]},
    index=pd.Index(list(NOISE_FRACTIONS), name="noise_fraction"))

#: Table 6: HSC transfer, before and after fine-tuning (NaN: not given by the paper).
PAPER_HSC = pd.DataFrame(
    {"accuracy": [0.821, 0.876], "recall": [np.nan, 0.932],
     "precision": [np.nan, 0.841], "auc": [0.902, 0.936]},
    index=pd.Index(["before fine-tuning", "after fine-tuning"], name="model"))

#: Appendix A: overall accuracy of the three-class model (about).
PAPER_THREE_CLASS_ACCURACY = 0.88

# The names the rest of the package has used since the first release.
PAPER_N_PARAMS = N_PARAMS
PAPER_SEEDS = SEEDS
PAPER_N_TRAIN = N_TRAIN
