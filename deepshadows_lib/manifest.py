"""Provenance of every figure and table: ``figures/MANIFEST.json``.

A notebook creates one :class:`Reporter` and saves each figure and table through it::

    report = manifest.Reporter(notebook="02_deepshadows", figures_dir="figures",
                               parameters=params, data=store, seed=seed)
    fig = plots.draw_roc_curves(curves, simulated=report.simulated)
    report.figure(fig, "fig4_roc", caption="ROC curves of CNN, SVM and RF")

Each entry records the notebook and cell that made it, the parameters, the data source
with its content hash, the seed, the git commit, the library versions and whether the data
were simulated.  Files are written atomically (PNG and PDF for figures, CSV and Markdown
for tables) and the manifest is updated atomically after each save, so an interrupted run
never leaves a half-written figure or a manifest that names a missing file.
"""

import datetime as _dt
import json
import subprocess
from pathlib import Path

import numpy as np

from ._io import atomic_path, atomic_write_json, atomic_write_text
from .plots import mark_simulated
from .provenance import library_versions

__all__ = ["Reporter", "read_manifest", "library_versions", "git_commit", "MARKER",
           "table_markdown", "portable_path", "figure_panels", "MANIFEST"]

MANIFEST = "MANIFEST.json"
#: The repository: recorded paths inside it are relative to it.
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Printed by every save, so that the runner can find the cell that made each item.
MARKER = "[deepshadows:saved]"
def git_commit(path=None):
    """The git commit of the project, or None outside a git checkout.

    ``-dirty`` is appended when tracked files outside ``figures/`` have uncommitted
    changes.
    """
    cwd = Path(path or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        # Regenerating the committed figures modifies figures/ itself: that is output,
        # not a change to the code that made it.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                "--", ":/", ":(exclude,top)figures"],
                               cwd=cwd, capture_output=True, text=True, timeout=10).stdout
        return commit + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _checkout_of(path):
    """The project checkout (a folder with ``deepshadows_lib/`` and ``notebooks/``) that
    holds ``path``, or None: a manifest made in another checkout names its own."""
    for parent in Path(path).parents:
        if (parent / "deepshadows_lib").is_dir() and (parent / "notebooks").is_dir():
            return parent
    return None


def portable_path(path, *, build_dir=None, root=REPO_ROOT):
    """``path`` as the manifest records it: never this machine's absolute path.

    In order: relative to the repository when inside it (this checkout, or the checkout
    of this project that holds the path): ``build/default/des.zarr``; for a path under a
    folder named ``build`` (the default build directory of a checkout that is not here),
    from that folder on; relative to ``build_dir``, prefixed ``<build>/``:
    ``<build>/des.zarr``; else its name under ``<external>/``.  Relative paths are
    returned as they are.
    """
    text = str(path)
    p = Path(text)
    if not p.is_absolute():
        return text
    for base in (root, _checkout_of(p)):
        if base is not None and p.is_relative_to(base):
            return p.relative_to(base).as_posix() or "."
    if "build" in p.parts[:-1] or p.name == "build":
        # the default build directory of a checkout that is gone (another machine, a
        # removed worktree): ``build/`` sits at the top of a checkout
        at = len(p.parts) - 1 - p.parts[::-1].index("build")
        return Path(*p.parts[at:]).as_posix()
    if build_dir is not None and Path(build_dir).is_absolute() and p.is_relative_to(build_dir):
        return f"<build>/{p.relative_to(build_dir).as_posix()}"
    return f"<external>/{p.name}"


def figure_panels(fig):
    """The panels of a figure and which of them are empty.

    A panel is an Axes that is shown (axis on, or holding an image); it is empty when
    nothing is drawn in it: no line, patch, collection, image or text beside its labels.
    Axes switched off with nothing in them (spacers) are not panels.

    Returns
    -------
    dict
        ``{"panels": n, "empty": [titles or indices of the empty panels]}``.
    """
    panels, empty = 0, []
    for index, ax in enumerate(fig.axes):
        drawn = (len(ax.lines) + len(ax.collections) + len(ax.images) + len(ax.texts)
                 + len([p for p in ax.patches if p.get_visible()]) + len(ax.tables)
                 + len(getattr(ax, "artists", [])))
        if not ax.axison and drawn == 0:
            continue  # an axes turned off and left blank is layout, not a panel
        panels += 1
        if drawn == 0:
            empty.append(ax.get_title() or f"axes {index}")
    return {"panels": panels, "empty": empty}


def read_manifest(figures_dir):
    """The manifest of ``figures_dir`` as a dict (empty structure if there is none)."""
    path = Path(figures_dir) / MANIFEST
    if not path.exists():
        return {"items": {}}
    return json.loads(path.read_text())


def _execution_count():
    try:
        from IPython import get_ipython  # only inside a kernel: outside, no cell to name
        ip = get_ipython()
        return None if ip is None else int(ip.execution_count)
    except Exception:  # outside IPython there is no cell
        return None


def _flat(label):
    if isinstance(label, tuple):
        return " / ".join(str(x) for x in label if str(x))
    return str(label)


def flatten_columns(df):
    """A copy of ``df`` with MultiIndex columns joined into strings (``accuracy paper``)."""
    out = df.copy()
    out.columns = [_flat(c) for c in df.columns]
    return out


def table_markdown(df, *, caption=None, floatfmt=".3f"):
    """A DataFrame as a GitHub Markdown table (no extra dependency).

    Whole numbers print without decimals, NaN as an empty cell, other floats with
    ``floatfmt``.
    """
    def fmt(v):
        if isinstance(v, (float, np.floating)):
            if v != v:
                return ""
            return f"{int(v)}" if float(v).is_integer() and abs(v) >= 1 else format(v, floatfmt)
        return _flat(v)
    names = [n for n in (df.index.names or []) if n]
    cols = [" / ".join(names)] + [_flat(c) for c in df.columns]
    lines = []
    if caption:
        lines += [f"**{caption}**", ""]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([fmt(idx)] + [fmt(v) for v in row]) + " |")
    return "\n".join(lines) + "\n"


class Reporter:
    """Save figures and tables of one notebook run, with their provenance.

    Parameters
    ----------
    notebook : str
        Name of the notebook (``"02_deepshadows"``).
    figures_dir : str or path-like
        Where figures, tables and ``MANIFEST.json`` go.
    parameters : dict
        The run's parameters (profile, sizes, epochs, ...).
    data : Store or dict or str, optional
        The data source: an opened store (its path, content hash and simulated flag are
        read), or a dict with ``source``, ``sha256``, ``simulated``.
    seed : int, optional
        The run's seed.
    simulated : bool, optional
        Overrides the flag read from ``data``.
    formats : tuple of str
        Figure formats (PNG and PDF by default).
    """

    def __init__(self, *, notebook, figures_dir, parameters=None, data=None, seed=None,
                 simulated=None, formats=("png", "pdf")):
        self.notebook = notebook
        self.figures_dir = Path(figures_dir)
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        self.parameters = dict(parameters or {})
        build = self.parameters.get("build_dir")
        for key in ("build_dir", "figures_dir"):
            if self.parameters.get(key):
                self.parameters[key] = portable_path(self.parameters[key])
        self.seed = seed
        self.formats = tuple(formats)
        self.data = self._describe(data)
        if isinstance(self.data.get("source"), list):
            self.data["source"] = [portable_path(x, build_dir=build) if x else x
                                   for x in self.data["source"]]
        elif self.data.get("source"):
            self.data["source"] = portable_path(self.data["source"], build_dir=build)
        self.simulated = bool(self.data.get("simulated", False) if simulated is None
                              else simulated)
        self.data["simulated"] = self.simulated
        self._commit = git_commit()
        self._versions = library_versions()

    @staticmethod
    def _describe(data):
        if data is None:
            return {}
        if isinstance(data, dict):
            return dict(data)
        if isinstance(data, (list, tuple)):
            parts = [Reporter._describe(d) for d in data]
            return {"source": [p.get("source") for p in parts],
                    "sha256": [p.get("sha256") for p in parts],
                    "simulated": any(p.get("simulated") for p in parts)}
        attrs = getattr(data, "attrs", None)
        if attrs is not None and hasattr(data, "path"):
            return {"source": str(data.path), "sha256": attrs.get("content_sha256"),
                    "simulated": bool(attrs.get("simulated", False)),
                    "survey": attrs.get("survey")}
        return {"source": str(data)}

    def _entry(self, kind, name, files, caption):
        return {"kind": kind, "files": [str(Path(f).name) for f in files],
                "caption": caption, "notebook": self.notebook,
                "execution_count": _execution_count(), "parameters": self.parameters,
                "data": self.data, "simulated": self.simulated, "seed": self.seed,
                "git_commit": self._commit, "versions": self._versions,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}

    def _record(self, name, entry):
        manifest = read_manifest(self.figures_dir)
        manifest.setdefault("items", {})[name] = entry
        manifest["updated"] = entry["created"]
        atomic_write_json(self.figures_dir / MANIFEST, manifest)
        print(f"{MARKER} {name}: {', '.join(entry['files'])}")

    def figure(self, fig, name, *, caption=None):
        """Save ``fig`` as ``name.png`` and ``name.pdf`` and record it; returns ``fig``."""
        if self.simulated and not getattr(fig, "_deepshadows_simulated", False):
            mark_simulated(fig)
        files = []
        for ext in self.formats:
            target = self.figures_dir / f"{name}.{ext}"
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=ext, bbox_inches="tight",
                            metadata=None if ext != "png" else {"Software": "deepshadows_lib"})
            files.append(target)
        entry = self._entry("figure", name, files, caption)
        entry["panels"] = figure_panels(fig)  # the smoke check fails on empty panels
        self._record(name, entry)
        return fig

    def table(self, df, name, *, caption=None):
        """Save a table as ``name.csv`` and ``name.md`` and record it; returns ``df``.

        Give the table this run's numbers beside the paper's (for example columns
        ``accuracy`` and ``accuracy (paper)``) before saving it.
        """
        csv = self.figures_dir / f"{name}.csv"
        md = self.figures_dir / f"{name}.md"
        with atomic_path(csv) as tmp:
            flatten_columns(df).to_csv(tmp)
        note = " (simulated data: synthetic survey)" if self.simulated else ""
        atomic_write_text(md, table_markdown(df, caption=(caption or name) + note))
        self._record(name, self._entry("table", name, [csv, md], caption))
        return df

    def json(self, obj, name, *, caption=None):
        """Save a result as ``name.json`` and record it (numbers that are not a table)."""
        target = self.figures_dir / f"{name}.json"
        atomic_write_json(target, obj)
        self._record(name, self._entry("result", name, [target], caption))
        return obj
