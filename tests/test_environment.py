"""The project's pins agree everywhere: pyproject.toml, requirements/, environment.yml."""

import re
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints():
    """{name: version} of requirements/constraints.txt that apply to this Python."""
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req, _, marker = line.partition(";")
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==(\S+)\s*", req)
        assert m, f"constraints.txt: not an exact pin: {line!r}"
        mm = re.search(r'python_version == "([0-9.]+)"', marker)
        if mm and mm.group(1) != PY:
            continue
        pins[_norm(m.group(1))] = m.group(2)
    return pins


def _environment_pins():
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s*-\s*([A-Za-z0-9_.\-]+)==([^;\s]+)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def _requirement_lines(text):
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines()
            if ln.split("#", 1)[0].strip()]


def test_environment_yml_agrees_with_constraints():
    env = _environment_pins()
    cons = _constraints()
    if PY != "3.11":
        pytest.skip("environment.yml pins the Python 3.11 set")
    assert env, "environment.yml has no pins"
    disagree = {n: (v, cons.get(n)) for n, v in env.items() if cons.get(n) != v}
    assert not disagree, f"environment.yml vs constraints.txt: {disagree}"
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_every_top_level_requirement_is_pinned():
    cons = _constraints()
    env = _environment_pins()
    base = _requirement_lines((ROOT / "requirements" / "base.in").read_text())
    for line in base:
        name = _norm(re.split(r"[\[=<>;! ]", line, maxsplit=1)[0])
        assert name in cons, f"{name} has no pin in constraints.txt"
        assert name in env, f"{name} is missing from environment.yml"


def test_pyproject_dependencies_match_base_in():
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = [d.replace(" ", "") for d in project["dependencies"]]
    base = [d.replace(" ", "") for d in
            _requirement_lines((ROOT / "requirements" / "base.in").read_text())]
    assert sorted(deps) == sorted(base)
    assert project["requires-python"] == ">=3.10,<3.13"
    assert "gpu" in project["optional-dependencies"]
    assert any("and-cuda" in d for d in project["optional-dependencies"]["gpu"])


def test_required_versions():
    cons = _constraints()
    assert cons["tensorflow-cpu"].startswith("2.21.")
    assert cons["keras"].startswith("3.")
    for name in ("tf-keras-vis", "numpy", "pandas", "scikit-learn", "seaborn", "matplotlib",
                 "papermill", "jupytext", "jupyterlab", "ipykernel", "pooch", "tqdm",
                 "pillow", "galsim", "sep", "zarr", "astropy", "dask"):
        assert name in cons, name


@pytest.mark.parametrize("name", ["numpy", "pandas", "keras", "scikit-learn", "galsim",
                                  "zarr", "papermill", "tf-keras-vis"])
def test_installed_versions_are_the_pinned_ones(name):
    # make test installs with -c constraints.txt; a drift means the venv is stale
    assert version(name) == _constraints()[name]


def test_layout():
    for path in ("notebooks", "deepshadows_lib", "Datasets", "figures", "tests", "bench",
                 "environment.yml", "Makefile", "pyproject.toml", "README.md", ".ci/run"):
        assert (ROOT / path).exists(), path
    run = (ROOT / ".ci" / "run").read_text()
    assert "make test" in run and "set -e" in run
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make paper-figures" in readme


@pytest.mark.slow  # spawns a process
def test_light_imports():
    """`deepshadows --help`, catalogs and simulate must not import TensorFlow."""
    import subprocess
    code = ("import sys, deepshadows_lib.cli as c, deepshadows_lib.catalogs, "
            "deepshadows_lib.store, deepshadows_lib.profiles\n"
            "try:\n    c.build_parser()\nexcept SystemExit:\n    pass\n"
            "import importlib.util\n"
            "if importlib.util.find_spec('deepshadows_lib.simulate'):\n"
            "    import deepshadows_lib.simulate\n"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
