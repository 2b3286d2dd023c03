"""The package's layers: a module imports only from its own layer or the layers below.

The layers read bottom-up like the paper's flow: facts and files, catalogs and stores, the
two data sources and the baselines, the network, the studies and survey-scale use, the
paper's tables and figures, and the runners on top.  Imports inside the package sit at module
top, so this test sees every edge (heavy third-party imports may stay lazy).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "deepshadows_lib"

LAYERS = [
    {"__init__", "errors", "_io", "_validation", "schema", "paper", "profiles"},
    {"catalogs", "store", "photometry", "evaluate", "calibration"},
    {"simulate", "cutouts", "features", "baselines", "imagefiles", "provenance", "registry"},
    {"nn", "models", "training", "augment", "bn_stats", "gradcam", "occlusion"},
    {"studies", "plus", "classify", "predict", "realism"},
    {"tables", "plots", "conclusions", "manifest"},
    {"notebook", "pipeline", "jobs", "cli", "__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(module_path):
    """The top-level unit (module or subpackage) of a file inside the package."""
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _package_of(module_path):
    rel = module_path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return parts[:-1] if parts[-1] != "__init__" else parts[:-1]


def package_imports(source, module_path):
    """``(unit, lineno, at_top)`` for every import of a deepshadows_lib unit in ``source``."""
    tree = ast.parse(source)
    top = set(map(id, tree.body))
    # imports guarded at module top (try/if) count as top-level
    for node in tree.body:
        if isinstance(node, (ast.Try, ast.If)):
            top.update(map(id, ast.walk(node)))
    pkg = _package_of(module_path)
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name.split(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else list(pkg)
                mod = base + (node.module.split(".") if node.module else [])
                targets = ([mod + [a.name] for a in node.names] if not node.module
                           else [mod])
            elif node.module == "deepshadows_lib":
                targets = [["deepshadows_lib", a.name] for a in node.names]
            elif node.module:
                targets = [node.module.split(".")]
        for t in targets:
            if len(t) >= 2 and t[0] == "deepshadows_lib":
                # a name that is no module (``from . import __version__``) is the package's
                unit = t[1] if t[1] in _UNITS else "__init__"
                out.append((unit, node.lineno, id(node) in top))
    return out


_UNITS = {p.stem if p.suffix else p.name for p in PACKAGE.iterdir()
          if p.suffix == ".py" or (p / "__init__.py").exists()}
# the units a test writes about, whether or not today's tree has them
_UNITS |= {"simulate", "evaluate", "cli", "plots", "nn", "notebook", "jobs", "classify"}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_has_a_layer():
    missing = sorted({_unit(p) for p in _modules()} - set(LAYER))
    assert not missing, f"add these to LAYERS in tests/test_layers.py: {missing}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
    me = _unit(path)
    for unit, line, _ in package_imports(path.read_text(), path):
        assert LAYER.get(unit, 99) <= LAYER[me], (
            f"{path.relative_to(PACKAGE.parent)}:{line}: {me} (layer {LAYER[me]}) imports "
            f"{unit} (layer {LAYER.get(unit)})")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_package_imports_sit_at_module_top(path):
    inner = [(u, line) for u, line, at_top in package_imports(path.read_text(), path)
             if not at_top]
    assert not inner, f"{path.relative_to(PACKAGE.parent)}: imports inside functions: {inner}"


def test_the_checker_sees_an_upward_import_inside_a_function():
    src = "import numpy\n\ndef f():\n    from .cli import main\n    from . import plots\n"
    found = package_imports(src, PACKAGE / "store.py")
    assert [(u, top) for u, _, top in found] == [("cli", False), ("plots", False)]
    assert max(LAYER[u] for u, _, _ in found) > LAYER["store"]


def test_the_checker_resolves_imports_from_inside_a_subpackage():
    src = "from ..evaluate import metrics\nfrom . import render\nfrom deepshadows_lib import cli\n"
    found = package_imports(src, PACKAGE / "simulate" / "survey.py")
    assert [u for u, _, _ in found] == ["evaluate", "simulate", "cli"]
