"""The ``figures`` subcommand: run the notebooks, check and explain their outputs."""

import sys
from pathlib import Path

from .. import conclusions, notebook
from ..errors import InputError
from ..manifest import read_manifest
from ..profiles import get_profile
from ..studies import scheduler_client
from ._args import EXIT_OK


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
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="a Dask scheduler (tcp://HOST:8786): the studies' independent "
                        "trainings run on its workers instead of local processes")
    p.add_argument("--check", action="store_true",
                   help="only check that every expected figure and table exists, is not "
                        "blank, has no empty panel and no impossible number, and that "
                        "every claim of the paper holds (conclusions.csv; a row that says "
                        "no fails the check unless its note says why, except in a smoke "
                        "run)")
    p.add_argument("--explain", metavar="NAME", default=None,
                   help="print the notebook, cell, source lines and library functions behind "
                        "the figure or table NAME of MANIFEST.json (e.g. fig4_roc)")
    p.add_argument("--upgrade-manifest", action="store_true",
                   help="rewrite MANIFEST.json's cell records (notebook .py line, cell tag "
                        "and id) and paths in place, without running the notebooks")


def _check_scheduler(address):
    """Reach the Dask scheduler once before any notebook runs (an InputError if none
    answers): a wrong address then stops the run in seconds with one line, instead of
    after the notebooks before the first training, with their outputs half rewritten."""
    client, own = scheduler_client(address)
    if own:
        client.close()


def _table_profile(figures, *, default):
    """The profile that made the verdict table (recorded in MANIFEST.json), else
    ``default``: a table of a smoke run may say no, one of the default run may not."""
    entry = read_manifest(figures).get("items", {}).get("conclusions", {})
    profile = (entry.get("parameters") or {}).get("profile")
    if isinstance(profile, dict):
        profile = profile.get("name")
    return profile if isinstance(profile, str) and profile else default


def _run_figures(args):
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
        profile = _table_profile(figures, default=args.profile)
        broken = len(conclusions.check_holds(table, profile=profile,
                                             path=figures / "conclusions.csv"))
        print(f"{len(table) - broken} of {len(table)} claims of the paper hold in this "
              f"{profile} run"
              + (f"; {broken} do not (see {figures / 'conclusions.md'})" if broken else ""))
        return EXIT_OK
    if args.scheduler:
        _check_scheduler(args.scheduler)
    names = [args.notebook] if args.notebook else list(notebook.NOTEBOOKS)
    for name in names:
        try:
            out = notebook.run_notebook(name, profile=args.profile, data=args.data,
                                        build_dir=args.build, figures_dir=args.figures,
                                        seed=args.seed,
                                        parameters={"scheduler": args.scheduler}
                                        if args.scheduler else None)
        except notebook.NotebookFailed as exc:
            print(f"deepshadows figures: error: {exc}", file=sys.stderr)
            return 1
        print(f"executed {name} -> {out}")
    return EXIT_OK
