"""Subcommands on catalogs and cutouts: ``check``, ``simulate``, ``features``, ``download``."""

import pandas as pd

from .. import catalogs, cutouts, features, simulate
from .._io import atomic_path
from ..errors import InputError, PartialFailure
from ..store import open_store
from ._args import EXIT_OK, _positive_float, _positive_int


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
