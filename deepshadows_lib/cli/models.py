"""Subcommands that run a network: ``train``, ``evaluate``, ``classify``, ``predict``."""

import sys
import warnings

from .. import classify, jobs, predict, registry
from ..errors import InputError, PartialFailure
from ..profiles import get_profile
from ..provenance import read_sidecar
from ._args import EXIT_OK, _positive_int


# --------------------------------------------------------------------------- train / evaluate
def _add_train(sub):
    p = sub.add_parser(
        "train", help="train the DeepShadows CNN on a labelled cutout store",
        description="Train the paper's CNN (Adadelta, batch 64, no early stopping; the "
                    "model of the last epoch) on a labelled store and write OUT/model.keras, "
                    "OUT/history.json, OUT/metrics.json and OUT/predictions.parquet (ra, dec, "
                    "label, p_lsbg, split).",
        epilog="The images stay uint8 on disk and in memory; each batch is scaled to [0, 1] "
               "on the fly.  Training is deterministic for a given --seed on the same CPU "
               "(TensorFlow's threads follow its cores).  "
               "After every epoch the whole training state is saved in OUT/checkpoint/; "
               "rerun the same command after an interruption to resume from the last "
               "finished epoch (same final weights as an uninterrupted run).")
    p.add_argument("--cutouts", required=True, help="labelled cutout store directory")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--profile", default="default",
                   help="run profile: smoke, default or paper (epochs or step budget, "
                        "batch size, weight averaging, batch-norm re-estimation, "
                        "bootstrap resamples: notebook 02's recipe); default: default")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="training epochs (default: the profile's; the paper: 100)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random split and of the training (default 0)")
    p.add_argument("--split", choices=["auto", "random", "baseline"], default="auto",
                   help="random: the paper's 75/12.5/12.5 random split with --seed; "
                        "baseline: the paper's baseline split matched by position; auto "
                        "(default): baseline for the paper's objects, otherwise random")
    p.add_argument("--classes", type=int, choices=[2, 3], default=2,
                   help="2: LSBG vs artifact (label); 3: type-2 artifact, LSBG, type-1 "
                        "artifact (class_index, Appendix A)")
    p.add_argument("--restart", action="store_true",
                   help="discard the checkpoint of an interrupted run in OUT and train "
                        "from the first epoch (by default a rerun resumes from the last "
                        "finished epoch)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _run_train(args):
    try:
        get_profile(args.profile)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    m = jobs.train_store(args.cutouts, args.out, profile=args.profile, epochs=args.epochs,
                             seed=args.seed, split=args.split,
                             n_classes=1 if args.classes == 2 else 3,
                             progress=not args.quiet, restart=args.restart)
    test = m["splits"]["test"]
    print(f"wrote {args.out}: model.keras, history.json, metrics.json, predictions.parquet "
          f"({m['split']} split, {m['epochs']} epochs; test accuracy "
          f"{_metric(test, 'accuracy')}, AUC {_metric(test, 'auc')})")
    return EXIT_OK


def _metric(metrics, name):
    """A metric to 3 decimals, or "n/a" where it is undefined (one class only)."""
    value = metrics.get(name)
    return "n/a" if value is None else f"{value:.3f}"


def _add_evaluate(sub):
    p = sub.add_parser(
        "evaluate", help="evaluate a trained model on a labelled cutout store",
        description="Predict every object of a labelled store with a trained model and "
                    "write OUT/metrics.json (accuracy, precision, recall, AUC, confusion "
                    "counts, bootstrap intervals) and OUT/predictions.parquet.")
    p.add_argument("--model", required=True, help="trained model (.keras)")
    p.add_argument("--cutouts", required=True, help="labelled cutout store directory")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch-size", type=_positive_int, default=256,
                   help="images per forward pass (default 256)")
    p.add_argument("--n-bootstrap", type=int, default=1000,
                   help="bootstrap resamples for the 95%% intervals (0: none; default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_evaluate(args):
    if args.n_bootstrap < 0:
        raise InputError(f"--n-bootstrap must be >= 0, got {args.n_bootstrap}")
    m = jobs.evaluate_store(args.model, args.cutouts, args.out,
                                batch_size=args.batch_size, n_bootstrap=args.n_bootstrap,
                                seed=args.seed, progress=not args.quiet)
    print(f"wrote {args.out}: metrics.json, predictions.parquet ({m['n']} objects; "
          f"accuracy {_metric(m, 'accuracy')}, AUC {_metric(m, 'auc')})")
    return EXIT_OK


# --------------------------------------------------------------------------- classify
def _add_classify(sub):
    p = sub.add_parser(
        "classify", help="classify every cutout of a store with a trained model",
        description="Run a trained DeepShadows model over a cutout store, chunk by chunk "
                    "(memory stays flat whatever the store's size), and write ra, dec and "
                    "the class probabilities of every object to a Parquet table.  A killed "
                    "run resumes where it stopped when rerun with the same arguments; "
                    "--scheduler runs the same work on a Dask cluster.",
        epilog="Partial results are kept in OUT.parts/ until every chunk is done.  On a "
               "remote cluster the workers must see the model and the store at the same "
               "paths (a shared file system).")
    p.add_argument("--model", required=True, help="trained model (.keras)")
    p.add_argument("--cutouts", required=True, help="cutout store directory")
    p.add_argument("--out", required=True, help="predictions table to write (.parquet)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="'local' for a Dask LocalCluster on this machine, or the address of "
                        "a Dask scheduler (tcp://host:port); default: this process "
                        "(a LocalCluster if --workers is given)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes of the local cluster (default: all cores)")
    p.add_argument("--batch-size", type=_positive_int, default=256,
                   help="images per forward pass (default: 256)")
    p.add_argument("--tf-threads", type=_positive_int, default=None,
                   help="TensorFlow threads per Dask worker (default: cores / workers "
                        "locally, 1 on a remote cluster)")
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                   help="the network's arithmetic: float32 (default, exact to round-off) "
                        "or bfloat16 (faster on CPUs with AVX-512 BF16; probabilities "
                        "differ by up to a few 1e-3, see bench/results.json)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output and discard partial results of a "
                        "different run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_classify(args):
    out = classify.classify_store(args.model, args.cutouts, args.out,
                                  scheduler=args.scheduler, workers=args.workers,
                                  batch_size=args.batch_size, tf_threads=args.tf_threads,
                                  progress=not args.quiet, overwrite=args.overwrite,
                                  precision=args.precision)
    summary = classify.summarize_predictions(out)
    run = classify.last_run or {}
    resumed = (f"; resumed: {run['chunks_skipped']} of {run['chunks_total']} chunks were "
               "already done" if run.get("chunks_skipped") else "")
    print(f"wrote {out}: {summary['n']} objects, {summary['n_lsbg']} with p_lsbg > 0.5"
          f"{resumed}")
    return EXIT_OK


# --------------------------------------------------------------------------- predict
def _add_predict(sub):
    p = sub.add_parser(
        "predict", help="classify your own cutouts (JPEG, PNG, FITS files or folders)",
        description="Classify image files with a trained model: JPEG, PNG and FITS, any "
                    "size (resized to 64x64 as the cutout client does), files or folders "
                    "(searched recursively), in streaming batches.  Writes a CSV with file, "
                    "ra, dec (from the file name or FITS header when present), the "
                    "calibrated LSBG probability p_lsbg and its uncertainty (spread over "
                    "ensemble members and the eight rotations/flips).",
        epilog="Exit status: 0 all images classified; 3 some files could not be read or have "
               "the wrong shape (listed in the CSV with status 'failed' and the reason; the "
               "others are classified); 2 bad input.  --model takes a .keras file (checked "
               "against the SHA-256 of its .json sidecar) or the name of a published model.")
    p.add_argument("images", nargs="+", metavar="IMAGES", help="image files and/or folders")
    p.add_argument("--model", required=True,
                   help="trained model (.keras with its .json sidecar; or the folder "
                        "deepshadows train wrote it to) or a registry name")
    p.add_argument("--out", required=True, help="predictions table to write (.csv)")
    p.add_argument("--batch-size", type=_positive_int, default=256,
                   help="images per batch (default: 256)")
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                   help="the network's arithmetic: float32 (default, exact to round-off) "
                        "or bfloat16 (faster on CPUs with AVX-512 BF16; probabilities "
                        "differ by up to a few 1e-3, see bench/results.json)")
    p.add_argument("--registry", default=None,
                   help="JSON registry of published models (default: the package's, or "
                        "$DEEPSHADOWS_REGISTRY)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_predict(args):
    model = registry.resolve_model(args.model, registry=args.registry,
                                   progress=not args.quiet)
    if read_sidecar(model) is None:  # one line, not Python's two-line warning
        print(f"deepshadows predict: warning: {predict.unverified_message(model)}",
              file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", predict.UnverifiedModelWarning)
        summary = predict.predict_files(model, args.images, args.out,
                                        batch_size=args.batch_size,
                                        progress=not args.quiet, overwrite=args.overwrite,
                                        precision=args.precision)
    print(f"wrote {args.out}: {summary}")
    if summary["n_failed"]:
        first = "; ".join(f"{f}: {r}" for f, r in summary["failures"][:3])
        raise PartialFailure(f"{summary['n_failed']} of {summary['n']} files could not be "
                             f"classified (listed in {args.out}; first: {first})",
                             failed=summary["n_failed"])
    return EXIT_OK
