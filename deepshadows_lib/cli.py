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

from .errors import InputError, PartialFailure

EXIT_OK, EXIT_BAD_INPUT, EXIT_PARTIAL = 0, 2, 3


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
    from . import catalogs
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
    from . import simulate
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    store = simulate.simulate_survey(args.out, n_per_class=args.n_per_class,
                                     survey=args.survey, classes=classes, seed=args.seed,
                                     workers=args.workers, chunk_size=args.chunk_size,
                                     overwrite=args.overwrite, progress=True)
    print(f"wrote {store.path}: {len(store)} cutouts ({args.survey}-like, simulated)")
    return EXIT_OK


# --------------------------------------------------------------------------- parser
_COMMANDS = ["check", "simulate"]


def build_parser():
    """Return the ``deepshadows`` argument parser."""
    from . import __version__
    parser = argparse.ArgumentParser(
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
