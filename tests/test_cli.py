"""The `deepshadows` command line: one entry point, one style, the documented exit codes."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

SUBCOMMANDS = ["simulate", "download", "features", "train", "evaluate", "classify", "predict",
               "figures", "check"]


def _run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "deepshadows_lib.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow  # spawns a process
def test_top_level_help_lists_every_subcommand():
    out = _run("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert name in out.stdout
    assert "Exit status" in out.stdout


@pytest.mark.slow  # spawns a process
@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name):
    out = _run(name, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: deepshadows {name}")


@pytest.mark.slow  # spawns a process
def test_console_script_is_installed():
    import shutil
    exe = shutil.which("deepshadows") or str(
        __import__("pathlib").Path(sys.executable).parent / "deepshadows")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "deepshadows" in out.stdout


@pytest.mark.slow  # spawns a process
def test_no_command_is_bad_input():
    assert _run().returncode == 2


@pytest.mark.slow  # spawns a process
@pytest.mark.parametrize("args", [
    ["train", "--cutouts", "/nonexistent/store", "--out", "OUT"],
    ["evaluate", "--model", "/nonexistent/m.keras", "--cutouts", "/nonexistent/store",
     "--out", "OUT"],
    ["classify", "--model", "/nonexistent/m.keras", "--cutouts", "/nonexistent/store",
     "--out", "OUT.parquet"],
    ["download", "--catalog", "/nonexistent/cat.csv", "--out", "OUT"],
    ["check", "/nonexistent/cat.csv"],
    ["figures", "--profile", "enormous", "--check"],
    ["simulate", "--n-per-class", "-3", "--out", "OUT"],
])
def test_bad_input_exit_2_one_line(args, tmp_path):
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    out = _run(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert "error" in lines[-1]


@pytest.mark.slow  # spawns a process
def test_not_a_store_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    out = _run("classify", "--model", str(tmp_path / "m.keras"), "--cutouts",
               str(tmp_path / "empty"), "--out", str(tmp_path / "p.parquet"))
    assert out.returncode == 2
    assert str(tmp_path) in out.stderr


def _closed_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nobody listens there once the socket is closed


@pytest.mark.slow  # spawns a process
@pytest.mark.cluster
def test_figures_with_an_unreachable_scheduler_stops_at_once_in_one_line(tmp_path):
    import time
    build, figures = tmp_path / "build", tmp_path / "figures"
    t = time.monotonic()
    out = _run("figures", "--profile", "smoke", "--build", str(build), "--figures",
               str(figures), "--scheduler", f"tcp://127.0.0.1:{_closed_port()}",
               timeout=300)
    assert out.returncode == 2, (out.stdout, out.stderr[-2000:])
    assert time.monotonic() - t < 60  # not the notebooks before the first training
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0]
    # no notebook ran: nothing written (make paper-figures SCHEDULER=... calls this first)
    assert not build.exists() and not figures.exists()


def test_figures_reaches_the_scheduler_before_running_any_notebook(monkeypatch, tmp_path):
    pytest.importorskip("distributed")
    from deepshadows_lib import cli, notebook, studies
    from deepshadows_lib.studies import parallel
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1, raising=False)
    ran = []
    monkeypatch.setattr(notebook, "run_notebook", lambda name, **kw: ran.append(name))
    code = cli.main(["figures", "--profile", "smoke", "--build", str(tmp_path / "b"),
                     "--figures", str(tmp_path / "f"), "--notebook", "01_file_creation",
                     "--scheduler", f"tcp://127.0.0.1:{_closed_port()}"])
    assert code == 2 and ran == []
    # with no scheduler the notebooks run as before
    assert cli.main(["figures", "--profile", "smoke", "--build", str(tmp_path / "b"),
                     "--figures", str(tmp_path / "f"), "--notebook",
                     "01_file_creation"]) == 0
    assert ran == ["01_file_creation"]
    assert studies.scheduler_client(None) == (None, False)


# --------------------------------------------------------------------------- figures --check
def _figures_with_verdicts(tmp_path, *, profile, broken):
    """A figures folder whose verdict table says no for ``broken`` (the other figures'
    checks are the notebook runner's, replaced by the caller)."""
    import json

    from deepshadows_lib import conclusions
    figures = tmp_path / "figures"
    figures.mkdir()
    records = {k: conclusions.Verdict(k, "0.5", k not in broken).as_dict()
               for k in conclusions.CLAIMS}
    conclusions.verdict_table(records).to_csv(figures / "conclusions.csv")
    (figures / "MANIFEST.json").write_text(json.dumps(
        {"items": {"conclusions": {"parameters": {"profile": {"name": profile}}}}}))
    return figures


@pytest.mark.parametrize("profile, code", [("default", 2), ("paper", 2), ("smoke", 0)])
def test_figures_check_fails_when_a_claim_does_not_hold_outside_the_smoke_profile(
        monkeypatch, tmp_path, capsys, profile, code):
    from deepshadows_lib import cli, notebook
    monkeypatch.setattr(notebook, "check_outputs", lambda figures: [])
    figures = _figures_with_verdicts(tmp_path, profile=profile, broken={"random_splits"})
    # --profile is the Makefile's; the table's own profile (MANIFEST.json) decides
    assert cli.main(["figures", "--profile", "default", "--figures", str(figures),
                     "--check"]) == code
    out = capsys.readouterr()
    if code:
        assert "random splits agree" in out.err and "do not hold" in out.err
    else:
        assert f"7 of 8 claims of the paper hold in this {profile} run; 1 do not" in out.out


def test_figures_check_passes_when_every_claim_holds(monkeypatch, tmp_path, capsys):
    from deepshadows_lib import cli, notebook
    monkeypatch.setattr(notebook, "check_outputs", lambda figures: [])
    figures = _figures_with_verdicts(tmp_path, profile="default", broken=set())
    assert cli.main(["figures", "--figures", str(figures), "--check"]) == 0
    assert "8 of 8 claims of the paper hold in this default run" in capsys.readouterr().out
