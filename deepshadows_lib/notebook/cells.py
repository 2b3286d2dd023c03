"""Where each figure and table was made: the notebook cell behind a ``MANIFEST.json`` item.

The notebooks are jupytext percent-format sources (``notebooks/NN_name.py``) paired with
outputless ``.ipynb`` files.  Every cell that saves a figure or table carries a tag
(``# %% tags=["fig4_roc"]``) that jupytext keeps in the ``.ipynb``, beside the cell's id.
A manifest item's ``cell`` records::

    {"source": "notebooks/02_deepshadows.py", "line": 190, "lines": [186, 192],
     "notebook": "notebooks/02_deepshadows.ipynb", "tag": "fig4_roc", "id": "003e5f02"}

``line`` is the line of the ``.py`` where the cell names the item (or calls the library
function that saves it), ``lines`` the cell's first and last line.  Paths are relative to
the repository.  :func:`cell_provenance` makes that record, :func:`check_item` verifies
one, :func:`upgrade_manifest` rewrites an older manifest's entries in place and
:func:`explain` prints the cell with the library functions it calls.
"""

import ast
import dataclasses
import difflib
import json
import pkgutil
import re
from pathlib import Path

import deepshadows_lib

from .._io import atomic_write_json
from ..conclusions import report_verdicts
from ..errors import InputError
from ..manifest import MANIFEST, portable_path, read_manifest

__all__ = ["Cell", "read_cells", "cell_provenance", "saving_cell", "check_item",
           "check_manifest", "upgrade_manifest", "explain", "library_calls", "SAVERS"]

REPO_ROOT = Path(deepshadows_lib.__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"

#: Items that a library function saves for the cell (the name is not in the cell's source):
#: the verdict table, rewritten by every call of :func:`conclusions.report_verdicts`.
SAVERS = {"conclusions": report_verdicts.__name__}

_HEADER = re.compile(r"^# %%(?P<rest>.*)$")
_TAGS = re.compile(r"tags=(\[[^\]]*\])")


@dataclasses.dataclass
class Cell:
    """One cell of a percent-format notebook.

    Attributes
    ----------
    index : int
        Position among the notebook's cells (markdown included), from 0.
    kind : str
        ``"code"`` or ``"markdown"``.
    first_line, last_line : int
        1-based lines of the ``.py``: the ``# %%`` header and the cell's last non-blank line.
    tags : list of str
    source : str
        The cell's text without its header.
    """

    index: int
    kind: str
    first_line: int
    last_line: int
    tags: list
    source: str

    @property
    def body_line(self):
        """Line of the ``.py`` holding the first line of :attr:`source`."""
        return self.first_line + 1


def read_cells(path):
    """The cells of a jupytext percent-format notebook, with their lines and tags."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such notebook source", path=path)
    lines = path.read_text().splitlines()
    cells, current = [], None
    for number, text in enumerate(lines, start=1):
        head = _HEADER.match(text)
        if head:
            if current is not None:
                cells.append(current)
            rest = head.group("rest")
            tags = _TAGS.search(rest)
            current = {"first": number, "kind": "markdown" if "[markdown]" in rest else "code",
                       "tags": json.loads(tags.group(1)) if tags else [], "body": []}
        elif current is not None:
            current["body"].append(text)
    if current is not None:
        cells.append(current)
    out = []
    for index, c in enumerate(cells):
        body = c["body"]
        while body and not body[-1].strip():
            body = body[:-1]
        out.append(Cell(index=index, kind=c["kind"], first_line=c["first"],
                        last_line=c["first"] + len(body), tags=list(c["tags"]),
                        source="\n".join(body)))
    return out


def _save_line(cell, name):
    """Line (of the ``.py``) where ``cell`` names item ``name`` or calls its saver; or None."""
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return None
    saver = SAVERS.get(name)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value == name:
            hits.append(node.lineno)
        elif (saver and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == saver):
            hits.append(node.lineno)
    return cell.body_line + min(hits) - 1 if hits else None


def saving_cell(cells, name, *, tag=None):
    """The code cell that saves item ``name``: the one tagged ``tag`` when given, else the
    last cell that names it (or calls its saver; the last call wins the manifest)."""
    code = [c for c in cells if c.kind == "code"]
    if tag is not None:
        tagged = [c for c in code if tag in c.tags]
        return tagged[0] if tagged else None
    found = [c for c in code if _save_line(c, name) is not None]
    return found[-1] if found else None


def _committed_ids(ipynb):
    """``{tag: cell id}`` of a committed ``.ipynb``."""
    nb = json.loads(Path(ipynb).read_text())
    out = {}
    for cell in nb.get("cells", []):
        for tag in cell.get("metadata", {}).get("tags", []):
            out.setdefault(tag, cell.get("id"))
    return out


def cell_provenance(notebook, name, *, tag=None, cell_id=None):
    """The ``cell`` record of item ``name`` saved by ``notebook`` (see the module's notes).

    Parameters
    ----------
    notebook : str or path-like
        A notebook name (``"02_deepshadows"``) or the path of its ``.py``.
    name : str
        The saved item (``"fig4_roc"``).
    tag : str, optional
        The tag of the cell that saved it (read from the executed notebook); without it
        the cell is found from its source.
    cell_id : str, optional
        The id of that cell in the executed notebook; by default the id of the tagged cell
        in the paired ``.ipynb``.

    Returns
    -------
    dict or None
        None when no cell of the notebook saves ``name``.
    """
    py = Path(notebook) if str(notebook).endswith(".py") else NOTEBOOK_DIR / f"{notebook}.py"
    cells = read_cells(py)
    cell = saving_cell(cells, name, tag=tag)
    if cell is None:
        return None
    line = _save_line(cell, name) or cell.body_line
    ipynb = py.with_suffix(".ipynb")
    tag = tag or (cell.tags[0] if cell.tags else None)
    if cell_id is None and tag and ipynb.exists():
        cell_id = _committed_ids(ipynb).get(tag)
    return {"source": portable_path(py), "line": line,
            "lines": [cell.first_line, cell.last_line], "notebook": portable_path(ipynb),
            "tag": tag, "id": cell_id}


def _repo_path(recorded, root):
    p = Path(recorded)
    return p if p.is_absolute() else Path(root) / p


def check_item(name, entry, *, root=REPO_ROOT):
    """Problems (a list of strings, empty when none) with the ``cell`` of one manifest item:
    the ``.py`` exists, ``line`` lies in it and in a cell that saves ``name``, that cell
    carries ``tag``, and the ``.ipynb`` holds a cell with that tag and ``id``."""
    cell = entry.get("cell") or {}
    if not cell.get("source"):
        return [f"{name}: no cell recorded"]
    problems = []
    for key in ("source", "notebook"):
        if Path(str(cell.get(key, ""))).is_absolute():
            problems.append(f"{name}: {key} {cell.get(key)} is an absolute path")
    py = _repo_path(cell["source"], root)
    if not py.exists():
        return problems + [f"{name}: {cell['source']} does not exist"]
    n_lines = len(py.read_text().splitlines())
    line = cell.get("line")
    if not isinstance(line, int) or not 1 <= line <= n_lines:
        return problems + [f"{name}: line {line} outside {cell['source']} (1-{n_lines})"]
    cells = read_cells(py)
    here = next((c for c in cells if c.first_line <= line <= max(c.last_line, c.first_line)),
                None)
    if here is None or here.kind != "code" or _save_line(here, name) is None:
        problems.append(f"{name}: the cell at {cell['source']}:{line} does not save it")
    elif cell.get("tag") not in here.tags:
        problems.append(f"{name}: the cell at {cell['source']}:{line} is not tagged "
                        f"{cell.get('tag')!r}")
    ipynb = _repo_path(cell.get("notebook", ""), root)
    if not ipynb.is_file():
        problems.append(f"{name}: {cell.get('notebook')} does not exist")
    else:
        ids = _committed_ids(ipynb)
        if cell.get("tag") not in ids:
            problems.append(f"{name}: no cell tagged {cell.get('tag')!r} in {cell['notebook']}")
        elif cell.get("id") != ids[cell.get("tag")]:
            problems.append(f"{name}: cell id {cell.get('id')!r} is not the id "
                            f"{ids[cell.get('tag')]!r} of the tagged cell in {cell['notebook']}")
    return problems


def check_manifest(figures_dir, *, root=REPO_ROOT):
    """Problems with the cells of every item of a manifest (see :func:`check_item`)."""
    items = read_manifest(figures_dir).get("items", {})
    return [p for name, entry in sorted(items.items()) for p in check_item(name, entry, root=root)]


def _portable_paths(entry):
    """An entry's parameters and data with machine paths made relative (in place)."""
    params = entry.get("parameters") or {}
    build = params.get("build_dir")
    for key in ("build_dir", "figures_dir"):
        if params.get(key):
            params[key] = portable_path(params[key])
    data = entry.get("data") or {}
    src = data.get("source")
    if isinstance(src, list):
        data["source"] = [portable_path(s, build_dir=build) for s in src]
    elif src:
        data["source"] = portable_path(src, build_dir=build)


def upgrade_manifest(figures_dir):
    """Rewrite an older ``MANIFEST.json`` in place with the cell records of this module.

    Each item's cell is found from its name in its notebook's ``.py`` (the figures are not
    made again); machine-specific paths become relative ones.  Returns the names of the
    items whose cell could not be found (left without a ``cell``).
    """
    path = Path(figures_dir) / MANIFEST
    manifest = read_manifest(figures_dir)
    missing = []
    for name, entry in manifest.get("items", {}).items():
        old = entry.pop("cell", None) or {}
        record = cell_provenance(entry["notebook"], name) if entry.get("notebook") else None
        if record is None:
            missing.append(name)
        else:
            if old.get("execution_count") is not None:
                record["execution_count"] = old["execution_count"]
            entry["cell"] = record
        _portable_paths(entry)
    manifest["cells_note"] = ("cell records matched by name onto the notebooks' .py sources "
                              "(deepshadows figures --upgrade-manifest); each item was made "
                              "at its git_commit")
    atomic_write_json(path, manifest)
    return missing


def _library_modules():
    return {m.name for m in pkgutil.iter_modules(deepshadows_lib.__path__)}


def library_calls(source, *, modules=None):
    """``deepshadows_lib.module.function`` for each ``module.function(...)`` call in
    ``source`` on a module of the library (in order of first appearance)."""
    modules = _library_modules() if modules is None else set(modules)
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            if isinstance(base, ast.Name) and base.id in modules:
                out.append((node.lineno, node.col_offset,
                            f"deepshadows_lib.{base.id}.{node.func.attr}"))
    seen, ordered = set(), []
    for _, _, name in sorted(out):
        if name not in seen:
            seen.add(name)
            ordered.append(name)
    return ordered


def _no_such_item(name, items):
    """The message for an unknown item: the near names first (a typo, a prefix such as
    ``fig4``), then every item."""
    lower = {k.lower(): k for k in items}
    near = [lower[m] for m in difflib.get_close_matches(name.lower(), list(lower), n=3,
                                                         cutoff=0.7)]
    near += [k for k in sorted(items) if k.lower().startswith(name.lower())
             and k not in near][:5]
    known = ", ".join(sorted(items)) or "none"
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    return f"no item {name!r} in the manifest{hint} (known: {known})"


def explain(name, *, figures_dir=REPO_ROOT / "figures", root=REPO_ROOT):
    """A text naming the notebook, cell, source lines and library calls behind item ``name``."""
    if not (Path(figures_dir) / MANIFEST).exists():
        raise InputError("no figure manifest here: make the figures first "
                         "(make paper-figures) or name their folder with --figures",
                         path=Path(figures_dir) / MANIFEST)
    items = read_manifest(figures_dir).get("items", {})
    if name not in items:
        # a file name (fig4_roc.png) names its item
        by_file = {f: k for k, v in items.items() for f in v.get("files", [])}
        name = by_file.get(Path(name).name, name)
    if name not in items:
        raise InputError(_no_such_item(name, items), path=Path(figures_dir) / MANIFEST)
    entry = items[name]
    cell = entry.get("cell") or cell_provenance(entry["notebook"], name) or {}
    if not cell.get("source"):
        raise InputError(f"{name}: the manifest records no cell", path=Path(figures_dir) / MANIFEST)
    py = _repo_path(cell["source"], root)
    cells = read_cells(py)
    here = next(c for c in cells if c.first_line <= cell["line"] <= max(c.last_line, c.first_line))
    lines = py.read_text().splitlines()
    out = [f"{name} ({entry.get('kind', 'item')}): {entry.get('caption') or ''}".rstrip(),
           f"  files:    {', '.join(entry.get('files', []))}",
           f"  notebook: {cell.get('notebook')} (cell tag {cell.get('tag')!r}, "
           f"id {cell.get('id')!r})",
           f"  source:   {cell['source']} lines {here.first_line}-{here.last_line} "
           f"(saved at line {cell['line']})",
           f"  data:     {'simulated' if entry.get('simulated') else 'real'}; seed "
           f"{entry.get('seed')}; commit {entry.get('git_commit')}", ""]
    for number in range(here.first_line, here.last_line + 1):
        mark = ">" if number == cell["line"] else " "
        out.append(f"{mark}{number:5d} | {lines[number - 1]}")
    calls = library_calls(here.source)
    out += ["", "library functions called:"] + [f"  {c}" for c in calls or ["(none)"]]
    return "\n".join(out)
