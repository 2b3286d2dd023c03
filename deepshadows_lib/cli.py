"""The ``deepshadows`` command line.

One entry point, one style: every subcommand has ``--help``, shows progress bars on long
work, prints bad input as one line, and exits with

* 0 -- everything ok,
* 2 -- bad input (a bad catalog, a missing file, a bad argument),
* 3 -- partly failed (some objects failed; they are listed in the output's status table).

Each subcommand is a pair ``_add_NAME(subparsers)`` / ``_run_NAME(args)``; the ``_run``
functions import what they need lazily so that ``deepshadows --help`` never loads
TensorFlow.
"""

import argparse
import sys

import pandas as pd

from . import (__version__, catalogs, classify, conclusions, cutouts, features, jobs, notebook,
               predict, registry, simulate)
from ._io import atomic_path
from .errors import InputError, PartialFailure
from .profiles import get_profile
from .store import open_store

EXIT_OK, EXIT_BAD_INPUT, EXIT_PARTIAL = 0, 2, 3


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block) and exit with 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


# --------------------------------------------------------------------------- catalogs
def _add_check(sub):
    p = sub.add_parser("check", help="validate a catalog file and print a summary",
                       description="Read a catalog (CSV, whitespace table or Parquet), "
                                   "validate its schema and print a one-line summary.")
    p.add_argument("catalog", help="catalog file")
    p.add_argument("--kind", default=None,
                   help="catalog kind (baseline, hsc_lsbgs, hsc_artifacts, class, "
                        "coordinates); guessed from the file name by default")


def _run_check(args):
    df = catalogs.read_catalog(args.catalog, kind=args.kind)
    dups = df.attrs.get("duplicates", 0)
    print(f"{args.catalog}: {len(df)} rows, {len(df.columns)} columns"
          + (f", {dups} duplicated positions" if dups else "") + ": ok")
    return EXIT_OK


# --------------------------------------------------------------------------- simulate
def _add_simulate(sub):
    p = sub.add_parser("simulate", help="generate a synthetic DES-like or HSC-like survey store",
                       description="Render synthetic cutouts (GalSim) of LSBGs and artifacts, "
                                   "measure their catalog features (sep) and write a store.")
    p.add_argument("--n-per-class", type=_positive_int, required=True, help="objects per class")
    p.add_argument("--survey", choices=["des", "hsc"], default="des")
    p.add_argument("--classes", default="lsbg,artifact2",
                   help="comma-separated classes among lsbg, artifact1, artifact2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output store directory")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes (default: all cores)")
    p.add_argument("--chunk-size", type=_positive_int, default=1024)
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")


def _run_simulate(args):
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    store = simulate.simulate_survey(args.out, n_per_class=args.n_per_class,
                                     survey=args.survey, classes=classes, seed=args.seed,
                                     workers=args.workers, chunk_size=args.chunk_size,
                                     overwrite=args.overwrite, progress=True)
    print(f"wrote {store.path}: {len(store)} cutouts ({args.survey}-like, simulated)")
    return EXIT_OK


# --------------------------------------------------------------------------- features
def _add_features(sub):
    p = sub.add_parser("features", help="write the paper's 16 catalog features of a store or catalog",
                       description="Derive the 16 features of the paper (Section 4) from a "
                                   "cutout store's catalog or a catalog file with "
                                   "SourceExtractor columns, and write them as Parquet or CSV.")
    p.add_argument("source", help="a cutout store directory or a catalog file (CSV/Parquet)")
    p.add_argument("--out", required=True, help="output file (.parquet or .csv)")


def _run_features(args):
    from pathlib import Path


    src = Path(args.source)
    if src.is_dir():
        catalog = open_store(src, lazy=True).catalog
    elif src.is_file():
        try:
            catalog = (pd.read_parquet(src) if src.suffix == ".parquet" else pd.read_csv(src))
        except (OSError, ValueError) as exc:
            raise InputError(f"unreadable catalog: {exc}", path=src) from None
    else:
        raise InputError("no such store or catalog", path=src)
    feats = features.paper_features(catalog, path=src)
    keep = [c for c in ("ra", "dec", "label", "class_name") if c in catalog.columns]
    out = pd.concat([catalog[keep], feats], axis=1)
    dest = Path(args.out)
    with atomic_path(dest) as tmp:
        if dest.suffix == ".csv":
            out.to_csv(tmp, index=False)
        else:
            out.to_parquet(tmp, index=False)
    print(f"wrote {dest}: {len(out)} rows, {len(features.PAPER_FEATURES)} features")
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
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output and discard partial results of a "
                        "different run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_classify(args):
    out = classify.classify_store(args.model, args.cutouts, args.out,
                                  scheduler=args.scheduler, workers=args.workers,
                                  batch_size=args.batch_size, tf_threads=args.tf_threads,
                                  progress=not args.quiet, overwrite=args.overwrite)
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
                   help="trained model (.keras with its .json sidecar) or a registry name")
    p.add_argument("--out", required=True, help="predictions table to write (.csv)")
    p.add_argument("--batch-size", type=_positive_int, default=256,
                   help="images per batch (default: 256)")
    p.add_argument("--registry", default=None,
                   help="JSON registry of published models (default: the package's, or "
                        "$DEEPSHADOWS_REGISTRY)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_predict(args):
    model = registry.resolve_model(args.model, registry=args.registry,
                                   progress=not args.quiet)
    summary = predict.predict_files(model, args.images, args.out,
                                    batch_size=args.batch_size, progress=not args.quiet,
                                    overwrite=args.overwrite)
    print(f"wrote {args.out}: {summary}")
    if summary["n_failed"]:
        first = "; ".join(f"{f}: {r}" for f, r in summary["failures"][:3])
        raise PartialFailure(f"{summary['n_failed']} of {summary['n']} files could not be "
                             f"classified (listed in {args.out}; first: {first})",
                             failed=summary["n_failed"])
    return EXIT_OK


# --------------------------------------------------------------------------- download
def _add_download(sub):
    p = sub.add_parser(
        "download", help="fetch Legacy Survey viewer cutouts of a catalog into a store",
        description="Fetch the 256x256 JPEG cutouts of a catalog's positions from the Legacy "
                    "Survey viewer, concurrently and politely, validate them, resize them to "
                    "64x64 as the paper did, and write a cutout store with a per-object "
                    "status table.  Rerun the same command to resume an interrupted run or "
                    "to retry failed objects (blank, off-footprint cutouts are not retried).",
        epilog="Exit status: 0 all objects ok, 3 some failed (listed in OUT/status.parquet, "
               "read with deepshadows_lib.cutouts.read_status), 2 bad input.")
    p.add_argument("--catalog", required=True, help="catalog file with ra and dec (degrees)")
    p.add_argument("--layer", default="des-dr1", choices=["des-dr1", "hsc2", "ls-dr10"],
                   help="viewer layer (default: des-dr1)")
    p.add_argument("--out", required=True, help="output store directory")
    p.add_argument("--base-url", default=None,
                   help="cutout service (default: "
                        "https://www.legacysurvey.org/viewer/jpeg-cutout)")
    p.add_argument("--workers", type=_positive_int, default=16,
                   help="concurrent requests (default: 16)")
    p.add_argument("--rate", type=_positive_float, default=40.0,
                   help="at most R requests per second, all workers together (default: 40)")
    p.add_argument("--timeout", type=_positive_float, default=30.0,
                   help="seconds per request before it is retried (default: 30)")
    p.add_argument("--retries", type=int, default=5,
                   help="retries per object, with exponential backoff (default: 5)")
    p.add_argument("--chunk-size", type=_positive_int, default=1024,
                   help="images per chunk of the store (default: 1024)")
    p.add_argument("--no-retry-failed", action="store_true",
                   help="do not ask again for objects that failed in an earlier run")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh, deleting what OUT holds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_download(args):
    if args.retries < 0:
        raise InputError(f"--retries must be >= 0, got {args.retries}")
    summary = cutouts.download(
        args.catalog, args.out, layer=args.layer,
        base_url=args.base_url or cutouts.DEFAULT_BASE_URL, workers=args.workers,
        rate=args.rate, timeout=args.timeout, retries=args.retries,
        chunk_size=args.chunk_size, retry_failed=not args.no_retry_failed,
        overwrite=args.overwrite, progress=not args.quiet)
    print(f"wrote {summary.path}: {summary}")
    if summary.n_failed or summary.pending:
        raise PartialFailure(f"{summary.n_failed} of {summary.n} objects failed; they are "
                             f"listed in {summary.status_path}", failed=summary.n_failed)
    return EXIT_OK


# --------------------------------------------------------------------------- figures
def _add_figures(sub):
    p = sub.add_parser("figures", help="run the paper notebooks (papermill) and check the figures",
                       description="Execute the notebooks (01-05: the paper, 06: beyond "
                                   "it) in order with papermill "
                                   "(or one with --notebook), writing figures, tables and "
                                   "MANIFEST.json; --check only verifies the outputs; "
                                   "--explain NAME shows the notebook cell that made a figure.")
    p.add_argument("--profile", default="default", help="smoke, default or paper")
    p.add_argument("--data", default="synthetic",
                   help="'synthetic' or the path of a store of real DES cutouts")
    p.add_argument("--build", default=None, help="directory for executed notebooks and "
                                                 "intermediate results (default build/PROFILE)")
    p.add_argument("--figures", default=None, help="output directory (default figures/)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--notebook", default=None, help="run only this notebook (e.g. 02_deepshadows)")
    p.add_argument("--check", action="store_true",
                   help="only check that every expected figure and table exists, is not "
                        "blank, has no empty panel and no impossible number")
    p.add_argument("--explain", metavar="NAME", default=None,
                   help="print the notebook, cell, source lines and library functions behind "
                        "the figure or table NAME of MANIFEST.json (e.g. fig4_roc)")
    p.add_argument("--upgrade-manifest", action="store_true",
                   help="rewrite MANIFEST.json's cell records (notebook .py line, cell tag "
                        "and id) and paths in place, without running the notebooks")


def _run_figures(args):
    from pathlib import Path

    figures = Path(args.figures) if args.figures else notebook.NOTEBOOK_DIR.parent / "figures"
    if args.explain:
        print(notebook.explain(args.explain, figures_dir=figures))
        return EXIT_OK
    if args.upgrade_manifest:
        missing = notebook.upgrade_manifest(figures)
        problems = notebook.check_manifest(figures)
        print(f"upgraded {figures / 'MANIFEST.json'}"
              + (f"; no cell found for {', '.join(missing)}" if missing else ""))
        if problems:
            raise InputError("; ".join(problems), path=figures / "MANIFEST.json")
        return EXIT_OK
    try:
        get_profile(args.profile)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if args.check:
        files = notebook.check_outputs(figures)
        print(f"{len(files)} figure and table files present, readable and plausible")
        table = conclusions.check_complete(figures)
        print(table[["this run", "holds"]].to_string())
        broken = int((table["holds"] != "yes").sum())
        print(f"{len(table) - broken} of {len(table)} claims of the paper hold in this run"
              + (f"; {broken} do not (see {figures / 'conclusions.md'})"
                 if broken else ""))
        return EXIT_OK
    names = [args.notebook] if args.notebook else list(notebook.NOTEBOOKS)
    for name in names:
        try:
            out = notebook.run_notebook(name, profile=args.profile, data=args.data,
                                        build_dir=args.build, figures_dir=args.figures,
                                        seed=args.seed)
        except notebook.NotebookFailed as exc:
            print(f"deepshadows figures: error: {exc}", file=sys.stderr)
            return 1
        print(f"executed {name} -> {out}")
    return EXIT_OK


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
                   help="run profile: smoke, default or paper (epochs, batch size, "
                        "bootstrap resamples); default: default")
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
    acc = f"{test['accuracy']:.3f}" if test.get("accuracy") is not None else "n/a"
    auc = f"{test['auc']:.3f}" if test.get("auc") is not None else "n/a"
    print(f"wrote {args.out}: model.keras, history.json, metrics.json, predictions.parquet "
          f"({m['split']} split, {m['epochs']} epochs; test accuracy {acc}, AUC {auc})")
    return EXIT_OK


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
    acc = f"{m['accuracy']:.3f}" if m.get("accuracy") is not None else "n/a"
    auc = f"{m['auc']:.3f}" if m.get("auc") is not None else "n/a"
    print(f"wrote {args.out}: metrics.json, predictions.parquet ({m['n']} objects; "
          f"accuracy {acc}, AUC {auc})")
    return EXIT_OK


# --------------------------------------------------------------------------- parser
_COMMANDS = ["simulate", "download", "check", "features", "train", "evaluate", "classify",
             "predict", "figures"]


def build_parser():
    """Return the ``deepshadows`` argument parser."""
    parser = _Parser(
        prog="deepshadows",
        description="Separate low-surface-brightness galaxies from artifacts in survey "
                    "cutouts (DeepShadows, Tanoglidis et al. 2021).",
        epilog="Exit status: 0 ok, 2 bad input, 3 partly failed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        globals()[f"_add_{name}"](sub)
    return parser


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return globals()[f"_run_{args.command.replace('-', '_')}"](args) or EXIT_OK
    except InputError as exc:
        print(f"deepshadows {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError) as exc:
        print(f"deepshadows {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PartialFailure as exc:
        print(f"deepshadows {args.command}: {exc}", file=sys.stderr)
        return EXIT_PARTIAL
    except KeyboardInterrupt:
        print(f"deepshadows {args.command}: interrupted; rerun the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
