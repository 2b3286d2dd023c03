"""The ``deepshadows`` command line.

One entry point, one style: every subcommand has ``--help``, shows progress bars on long
work, prints bad input as one line, and exits with

* 0 -- everything ok,
* 2 -- bad input (a bad catalog, a missing file, a bad argument),
* 3 -- partly failed (some objects failed; they are listed in the output's status table).

Each subcommand is a pair ``_add_NAME(subparsers)`` / ``_run_NAME(args)`` in the module of
its concern (:mod:`.data`, :mod:`.models`, :mod:`.figures`); TensorFlow is imported only by
the functions that run a network, so ``deepshadows --help`` never loads it.
"""

import sys

from .. import __version__
from ..errors import InputError, PartialFailure
from . import data, figures, models
from ._args import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL, _Parser

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_BAD_INPUT", "EXIT_PARTIAL"]

#: subcommand -> the module holding its ``_add_`` / ``_run_`` pair, in --help order
_COMMANDS = {"simulate": data, "download": data, "check": data, "features": data,
             "train": models, "evaluate": models, "classify": models, "predict": models,
             "figures": figures}

#: what an interrupted subcommand leaves, where it does not resume (default: it resumes)
_INTERRUPTED = {"predict": "nothing was written to {out} (predict does not resume: rerun "
                           "the command to start again)"}


def build_parser():
    """Return the ``deepshadows`` argument parser."""
    parser = _Parser(
        prog="deepshadows",
        description="Separate low-surface-brightness galaxies from artifacts in survey "
                    "cutouts (DeepShadows, Tanoglidis et al. 2021).",
        epilog="Exit status: 0 ok, 2 bad input, 3 partly failed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _COMMANDS.items():
        getattr(module, f"_add_{name}")(sub)
    return parser


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    run = getattr(_COMMANDS[args.command], f"_run_{args.command.replace('-', '_')}")
    try:
        return run(args) or EXIT_OK
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
        note = _INTERRUPTED.get(args.command, "rerun the same command to resume")
        print(f"deepshadows {args.command}: interrupted; {note.format(**vars(args))}",
              file=sys.stderr)
        return 130
