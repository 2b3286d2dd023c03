"""The ``plus`` ensemble: its members, their training, the combined model, HSC transfer.

See :mod:`deepshadows_lib.plus` for the recipe.  Keras is imported inside
:func:`combine_members`: importing it starts TensorFlow (seconds), and the rest of this
module reaches TensorFlow only through :mod:`deepshadows_lib.nn`.
"""

import dataclasses

import numpy as np
from sklearn.model_selection import train_test_split

from .. import nn, paper
from ..augment import augment_dataset
from ..bn_stats import reestimate_batch_norm
from ..calibration import fit_isotonic, fit_platt, fit_temperature
from ..errors import InputError
from ..predict import Predictor
from ..studies import evaluate_scores, map_trainings

#: How ``plus`` calibrates its averaged probability on the validation set, and the name
#: of each way in tables.
CALIBRATIONS = {"temperature": "temperature scaling", "platt": "Platt scaling",
                "isotonic": "isotonic calibration"}

__all__ = ["CALIBRATIONS", "fit_calibration", "member_seed", "train_member", "train_plus",
           "train_ensembles", "combine_members", "PlusModel", "save_plus", "hsc_transfer"]


def _check_calibration(method):
    if method not in CALIBRATIONS:
        raise InputError(f"calibration must be one of {', '.join(CALIBRATIONS)}, "
                         f"got {method!r}")


def fit_calibration(method, y_true, p):
    """Fit one of :data:`CALIBRATIONS` to validation labels and probabilities.

    Returns
    -------
    dict
        ``temperature``, ``bias`` and ``isotonic`` (knots or None): the keyword arguments
        of :class:`~deepshadows_lib.predict.Predictor` that apply it.
    """
    _check_calibration(method)
    if method == "isotonic":
        return {"temperature": 1.0, "bias": 0.0, "isotonic": fit_isotonic(y_true, p)}
    if method == "platt":
        t, b = fit_platt(y_true, p)
        return {"temperature": t, "bias": b, "isotonic": None}
    return {"temperature": fit_temperature(y_true, p), "bias": 0.0, "isotonic": None}


def member_seed(seed, k):
    """The seed of ensemble member ``k`` of a run seeded with ``seed`` (independent
    streams from :class:`numpy.random.SeedSequence`)."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0] % (2**31 - 1))


def train_member(images, labels, *, train_idx, val_idx=None, epochs,
                 batch_size=paper.BATCH_SIZE, learning_rate=paper.LEARNING_RATE, seed=0, head="flatten", augment=True, progress=True,
                 deterministic=True, desc=None, bn_reestimate=False, ema_momentum=None):
    """Train one DeepShadows network, with rotation/flip augmentation.

    The paper's optimiser and loss (Adadelta, binary cross-entropy, a fixed number of
    epochs, the model of the last epoch); only the input pipeline (and, with
    ``head="gap"``, the head) differ from :func:`deepshadows_lib.nn.train_cnn`.

    Parameters
    ----------
    images : numpy.ndarray or zarr.Array
        (N, 64, 64, 3) uint8.
    labels : array_like
        (N,) binary labels (1 = LSBG).
    train_idx, val_idx : array_like of int
        Training and (optional) validation rows.
    epochs, batch_size, learning_rate : optional
        As the paper's CNN.
    seed : int, optional
        Seeds the weights, dropout, shuffling and augmentation.
    head : {"flatten", "gap"}, optional
        See :func:`deepshadows_lib.nn.build_deepshadows`.
    augment : bool, optional
        Rotations and flips (False: the paper's input pipeline).
    progress, deterministic : bool, optional
        As in :func:`deepshadows_lib.nn.train_cnn`.
    bn_reestimate : bool, optional
        Re-estimate the batch-norm statistics on the (unaugmented) training images after
        training (:func:`deepshadows_lib.bn_stats.reestimate_batch_norm`), as the run
        profiles do for the paper's CNN: after a short training the moving averages lag
        the weights and shift every member's output the same way, which neither the
        ensemble nor a temperature can undo.
    ema_momentum : float, optional
        End with a moving average of the weights (:func:`deepshadows_lib.nn.train_cnn`).

    Returns
    -------
    model : keras.Model
    history : dict
    """
    nn.configure_threads()
    nn.set_seed(seed, deterministic=deterministic)
    model = nn.build_deepshadows(1, learning_rate=learning_rate, compile=False, head=head)
    nn.compile_deepshadows(model, learning_rate=learning_rate, jit_compile=False,
                           ema_momentum=ema_momentum)
    train_ds = nn.make_dataset(images, labels, indices=train_idx, batch_size=batch_size,
                                     shuffle=True, seed=seed)
    if augment:
        train_ds = augment_dataset(train_ds, seed=seed)
    val_ds = None
    if val_idx is not None and len(val_idx):
        val_ds = nn.make_dataset(images, labels, indices=val_idx,
                                 batch_size=max(256, batch_size))
    history = nn.fit(model, train_ds, val_ds=val_ds, epochs=epochs, progress=progress,
                     desc=desc or f"plus member (seed {seed})")
    if bn_reestimate:
        reestimate_batch_norm(model, images, indices=train_idx)
    return model, history


def combine_members(members, *, name="deepshadows_plus"):
    """One Keras model of the ensemble: input (64, 64, 3), output (B, K) probabilities.

    Each member keeps its layers (and names) as a nested model ``member0`` ...
    ``member{K-1}``; the file saves and loads with Keras' safe mode.
    """
    import keras
    inputs = keras.Input(shape=tuple(members[0].input_shape[1:]), name="image")
    outs = []
    for k, m in enumerate(members):
        m.name = f"member{k}"  # nested model names must be unique in the file
        outs.append(m(inputs))
    out = outs[0] if len(outs) == 1 else keras.layers.Concatenate(name="members")(outs)
    return keras.Model(inputs, out, name=name)


@dataclasses.dataclass
class PlusModel:
    """A trained ``plus`` ensemble.

    Attributes
    ----------
    members : list of keras.Model
    histories : list of dict
    temperature : float
        Fitted on the validation set (1 before :func:`train_plus` fits it).
    head : str
    seeds : list of int
    raw_validation : numpy.ndarray
        (n_val, 8, K) per-view, per-member probabilities of the validation set.
    bias : float
        Added to the scaled logit (Platt scaling; 0 with temperature scaling).
    calibration : {"temperature", "platt", "isotonic"}
        How the calibration was fitted (:data:`CALIBRATIONS`).
    isotonic : dict or None
        Knots of the isotonic calibration (:func:`~deepshadows_lib.calibration.fit_isotonic`).
    """

    members: list
    histories: list
    temperature: float
    head: str
    seeds: list
    raw_validation: np.ndarray = None
    bias: float = 0.0
    calibration: str = "temperature"
    isotonic: dict = None

    def predictor(self, *, tta=True, members=None, temperature=None, bias=None,
                  calibrated=True):
        """A :class:`~deepshadows_lib.predict.Predictor` of (some of) the members,
        calibrated as the ensemble (or with the ``temperature`` and ``bias`` given;
        ``calibrated=False``: raw probabilities)."""
        chosen = self.members if members is None else [self.members[k] for k in members]
        if not calibrated:
            return Predictor(combine_members(chosen), tta=tta)
        t = self.temperature if temperature is None else temperature
        b = self.bias if bias is None else bias
        return Predictor(combine_members(chosen), temperature=t, bias=b,
                         isotonic=self.isotonic, tta=tta)

    def calibration_summary(self):
        """One line: how the ensemble is calibrated and with what fitted values."""
        knots = f", {len(self.isotonic['x'])} isotonic knots" if self.isotonic else ""
        return (f"{self.calibration} calibration fitted on validation: temperature "
                f"{self.temperature:.3f}, bias {self.bias:+.3f}{knots}")

    @property
    def model(self):
        """The combined Keras model (output (B, K))."""
        return combine_members(self.members)


def _member_weights(images, **task):
    """Train one member (:func:`train_member`); its weights and history, picklable."""
    model, history = train_member(images, **task)
    return {"weights": model.get_weights(), "history": history}


def train_plus(images, labels, *, train_idx, val_idx, epochs, batch_size=paper.BATCH_SIZE,
               learning_rate=paper.LEARNING_RATE, seed=0, n_members=5, head="flatten", augment=True,
               progress=True, bn_reestimate=False, workers=1, scheduler=None,
               ema_momentum=None, calibration="temperature"):
    """Train the ``plus`` ensemble and fit its calibration on the validation set.

    The arguments are those of :func:`train_member`; ``n_members`` networks are trained
    with the seeds :func:`member_seed` ``(seed, k)``.  ``workers`` local processes or a
    Dask ``scheduler`` train the members side by side
    (:func:`deepshadows_lib.studies.map_trainings`); each member seeds itself, so the
    ensemble equals the one trained member by member.

    ``calibration`` is fitted to the mean probability of the members and views on the
    validation set (:func:`fit_calibration`): ``"temperature"``
    (:func:`~deepshadows_lib.calibration.fit_temperature`), ``"platt"``
    (:func:`~deepshadows_lib.calibration.fit_platt`: a temperature and a bias, which also
    moves the decisions at 0.5) or ``"isotonic"``
    (:func:`~deepshadows_lib.calibration.fit_isotonic`: any monotone map).

    Returns
    -------
    PlusModel

    See Also
    --------
    train_ensembles : several ensembles (e.g. another head) whose members share the
        workers.
    """
    return train_ensembles(images, labels, train_idx=train_idx, val_idx=val_idx,
                           epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                           seed=seed, ensembles=[{"n_members": n_members, "head": head}],
                           augment=augment, progress=progress, bn_reestimate=bn_reestimate,
                           workers=workers, scheduler=scheduler, ema_momentum=ema_momentum,
                           calibration=calibration)[0]


def train_ensembles(images, labels, *, train_idx, val_idx, epochs, ensembles,
                    batch_size=paper.BATCH_SIZE, learning_rate=paper.LEARNING_RATE, seed=0,
                    augment=True, progress=True, bn_reestimate=False, workers=1,
                    scheduler=None, ema_momentum=None, calibration="temperature"):
    """Train several ``plus`` ensembles on the same data, their members side by side.

    Each ensemble is what :func:`train_plus` trains with its ``n_members`` and ``head``
    (and ``seed``, by default the common one), and comes out the same; but the members
    of all of them go to the ``workers`` (or the Dask ``scheduler``) as one list, so
    that an odd member left at the end of one ensemble shares the cores with a member of
    the next instead of running alone (notebook 06 trains the five-network ensemble and
    its one-network head variant this way).

    Parameters
    ----------
    ensembles : list of dict
        One per ensemble: ``n_members`` (int), ``head`` (``"flatten"`` or ``"gap"``)
        and optionally ``seed``.
    images, labels, train_idx, val_idx, epochs, batch_size, learning_rate, seed, augment,
    progress, bn_reestimate, workers, scheduler, ema_momentum, calibration :
        As in :func:`train_plus`.

    Returns
    -------
    list of PlusModel
        In the order of ``ensembles``.
    """
    _check_calibration(calibration)  # before hours of training, not after
    specs = []
    for e in ensembles:
        unknown = set(e) - {"n_members", "head", "seed"}
        if unknown or "n_members" not in e or int(e["n_members"]) < 1:
            raise InputError("each ensemble needs n_members >= 1 (and optionally head, "
                             f"seed), got {e!r}")
        specs.append({"n_members": int(e["n_members"]), "head": e.get("head", "flatten"),
                      "seed": int(e.get("seed", seed))})
    local = int(workers) <= 1 and scheduler is None
    tasks, owner = [], []
    for j, spec in enumerate(specs):
        for k in range(spec["n_members"]):
            tasks.append(dict(labels=labels, train_idx=train_idx, val_idx=val_idx,
                              epochs=epochs, batch_size=batch_size,
                              learning_rate=learning_rate, seed=member_seed(spec["seed"], k),
                              head=spec["head"], augment=augment,
                              progress=progress and local,
                              desc=f"plus member {k + 1}/{spec['n_members']}",
                              bn_reestimate=bn_reestimate, ema_momentum=ema_momentum))
            owner.append(j)
    if local:
        trained = [train_member(images, **t) for t in tasks]
    else:
        trained = []
        for t, r in zip(tasks, map_trainings(_member_weights, images, tasks, workers=workers,
                                             scheduler=scheduler, progress=progress,
                                             desc="plus members")):
            model = nn.build_deepshadows(1, learning_rate=learning_rate, compile=False,
                                         head=t["head"])
            model.set_weights(r["weights"])
            trained.append((model, r["history"]))
    ensembles_out = []
    for j, spec in enumerate(specs):
        mine = [i for i, o in enumerate(owner) if o == j]
        ensembles_out.append(_calibrated_ensemble(
            [trained[i][0] for i in mine], [trained[i][1] for i in mine], images, labels,
            val_idx=val_idx, head=spec["head"], seeds=[tasks[i]["seed"] for i in mine],
            calibration=calibration))
    return ensembles_out


def _calibrated_ensemble(members, histories, images, labels, *, val_idx, head, seeds,
                         calibration):
    """A :class:`PlusModel` of trained members, its calibration fitted on validation."""
    plus = PlusModel(members=members, histories=histories, temperature=1.0, head=head,
                     seeds=seeds, calibration=calibration)
    val_idx = np.asarray(val_idx, dtype=np.int64)
    pred = Predictor(combine_members(members), temperature=1.0, tta=True)
    raw = pred.member_probabilities(nn.read_images(images, val_idx))
    plus.raw_validation = raw
    if len(val_idx):
        y_val = np.asarray(labels)[val_idx]
        fitted = fit_calibration(calibration, y_val, raw.reshape(len(raw), -1).mean(axis=1))
        plus.temperature, plus.bias = fitted["temperature"], fitted["bias"]
        plus.isotonic = fitted["isotonic"]
    return plus


def save_plus(plus, path, *, provenance=None):
    """Save the ensemble as one ``.keras`` file with its sidecar (recipe ``plus``)."""
    info = {"recipe": "plus", "temperature": plus.temperature, "bias": plus.bias,
            "calibration": plus.calibration, "isotonic": plus.isotonic, "tta": True,
            "n_members": len(plus.members), "head": plus.head, "member_seeds": plus.seeds}
    info.update(provenance or {})
    return nn.save_model(plus.model, path, provenance=info)



def hsc_transfer(plus, hsc_images, hsc_labels, *, n_finetune=paper.N_HSC_FINETUNE,
                 epochs=paper.FINETUNE_EPOCHS, batch_size=paper.FINETUNE_BATCH_SIZE,
                 learning_rate=paper.FINETUNE_LEARNING_RATE, seed=0, progress=True, bn_reestimate=False):
    """The ``plus`` ensemble on HSC, before and after fine-tuning every member.

    The same fine-tuning and test objects as
    :func:`deepshadows_lib.studies.hsc_transfer` for the same seed (stratified draw of
    ``n_finetune`` objects); each member is fine-tuned as the paper fine-tunes its CNN
    (every layer, Adadelta at ``learning_rate``), and the ensemble keeps its eight views
    and its calibration (temperature and bias).  With ``bn_reestimate`` each fine-tuned member's batch-norm
    statistics are re-estimated on the fine-tuning images, as
    :func:`deepshadows_lib.studies.hsc_transfer` does for the paper's CNN.

    Returns
    -------
    dict
        As :func:`deepshadows_lib.studies.hsc_transfer` (``before``, ``after``,
        ``before_all``, ``finetune_idx``, ``test_idx``), with ``members`` (the
        fine-tuned networks) instead of ``model``.
    """
    labels = np.asarray(hsc_labels).astype(int)
    n = len(labels)
    if not 0 < int(n_finetune) < n:
        raise InputError(f"n_finetune must be between 1 and {n - 1}, got {n_finetune}")
    stratify = labels if np.bincount(labels, minlength=2).min() >= 2 else None
    ft_idx, test_idx = train_test_split(np.arange(n), train_size=int(n_finetune),
                                        random_state=int(seed), stratify=stratify)
    ft_idx, test_idx = np.sort(ft_idx), np.sort(test_idx)
    x = np.asarray(hsc_images[:])
    p_all, _ = plus.predictor().predict(x)
    tuned = []
    for k, member in enumerate(plus.members):
        m, _ = nn.fine_tune(member, x, labels, indices=ft_idx, epochs=epochs,
                                  batch_size=batch_size, learning_rate=learning_rate,
                                  seed=member_seed(seed, k), progress=progress)
        if bn_reestimate:
            reestimate_batch_norm(m, x, indices=ft_idx)
        tuned.append(m)
    after = PlusModel(members=tuned, histories=[], temperature=plus.temperature,
                      head=plus.head, seeds=plus.seeds, bias=plus.bias,
                      calibration=plus.calibration, isotonic=plus.isotonic)
    p_after, _ = after.predictor().predict(x[test_idx])
    return {"before": evaluate_scores(labels[test_idx], p_all[test_idx]),
            "after": evaluate_scores(labels[test_idx], p_after),
            "before_all": evaluate_scores(labels, p_all),
            "finetune_idx": ft_idx, "test_idx": test_idx, "members": tuned}

