"""The domain's facts, written once: classes, bands, the cutout's shape, the predictions table.

Every module that needs one of these names imports it from here, so that the class order of
the three-class problem, the size of a cutout or the column order of a predictions table
cannot drift apart between the simulator, the viewer client, training and classification.
"""

__all__ = ["CLASSES", "CLASS_INDEX", "LABELS", "N_CLASSES", "BANDS", "IMAGE_BANDS",
           "CUTOUT_SIZE", "CUTOUT_SHAPE", "BINARY_COLUMNS", "CLASS_COLUMNS",
           "probability_columns", "ID_COLUMNS", "PREDICTION_COLUMNS", "prediction_columns"]

#: Class names in the order of ``class_index`` (the three-class target).  artifact2 = 0 and
#: lsbg = 1, so that on the binary problem (type-2 artifacts against LSBGs) the label
#: equals the class index.
CLASSES = ("artifact2", "lsbg", "artifact1")
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}
#: The binary label of each class (1: LSBG).
LABELS = {"lsbg": 1, "artifact2": 0, "artifact1": 0}
N_CLASSES = len(CLASSES)

#: Bands of the catalogs' measurements (SourceExtractor columns ``*_g``, ``*_r``, ``*_i``).
BANDS = ("g", "r", "i")
#: Bands of the viewer's colour image, as its blue, green and red channels are named
#: by the survey (DES: g, r, z).
IMAGE_BANDS = ("g", "r", "z")

#: Side of a stored cutout in pixels (the viewer's 256-pixel JPEG resampled to 64).
CUTOUT_SIZE = 64
#: One cutout as the network sees it: height, width, RGB channels.
CUTOUT_SHAPE = (CUTOUT_SIZE, CUTOUT_SIZE, 3)

#: The probability column of a binary (sigmoid) model.
BINARY_COLUMNS = ("p_lsbg",)
#: The probability columns of a three-class (softmax) model, in ``class_index`` order.
CLASS_COLUMNS = tuple(f"p_{name}" for name in CLASSES)


def probability_columns(n_outputs):
    """The probability columns of a model with ``n_outputs`` outputs.

    Parameters
    ----------
    n_outputs : int
        1 for the binary (sigmoid) model, 3 for the three-class (softmax) model.

    Returns
    -------
    list of str
        ``["p_lsbg"]`` or ``["p_artifact2", "p_lsbg", "p_artifact1"]``.

    Raises
    ------
    ValueError
        For any other number of outputs.
    """
    if n_outputs == 1:
        return list(BINARY_COLUMNS)
    if n_outputs == N_CLASSES:
        return list(CLASS_COLUMNS)
    raise ValueError(f"a DeepShadows model has 1 or {N_CLASSES} outputs, not {n_outputs}")


#: Identifying columns of a predictions table, in order; each is present when its source
#: (a store's catalog, an image file) has it.
ID_COLUMNS = ("row", "ra", "dec", "label", "class_name", "class_index")
#: The one predictions table: identifiers, then the probabilities, then what qualifies them.
PREDICTION_COLUMNS = ID_COLUMNS + CLASS_COLUMNS[:1] + CLASS_COLUMNS[2:] + BINARY_COLUMNS + (
    "uncertainty", "model", "split")


def prediction_columns(columns):
    """Order ``columns`` as in :data:`PREDICTION_COLUMNS`; unknown columns follow, in order.

    Parameters
    ----------
    columns : iterable of str
        The columns of a predictions table.

    Returns
    -------
    list of str
    """
    columns = list(columns)
    known = [c for c in PREDICTION_COLUMNS if c in columns]
    return known + [c for c in columns if c not in PREDICTION_COLUMNS]
