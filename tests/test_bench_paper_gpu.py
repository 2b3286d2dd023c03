"""Tests of bench/paper_gpu.py (``make paper-gpu``): on the CPU with the smoke sizes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "paper_gpu.py"


def test_dry_run_lists_one_figures_command_per_notebook(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--profile", "smoke",
                        "--build", str(tmp_path / "build"), "--notebooks",
                        "01_file_creation,02_deepshadows", "--out", str(tmp_path / "o.json"),
                        "--results", str(tmp_path / "r.json")],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["dry_run"] and len(rec["commands"]) == 2
    assert all("figures --profile smoke" in c for c in rec["commands"])
    assert rec["commands"][1].endswith("--notebook 02_deepshadows")
    assert not (tmp_path / "o.json").exists()  # a dry run writes nothing


@pytest.mark.slow
@pytest.mark.notebooks
def test_paper_gpu_runs_a_notebook_and_records_its_time(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"benchmarks": {"training": {"kept": True}}}))
    out = tmp_path / "paper_gpu.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--profile", "smoke", "--build",
                        str(tmp_path / "build"), "--figures", str(tmp_path / "figures"),
                        "--notebooks", "01_file_creation", "--check-n", "128",
                        "--check-epochs", "1", "--tolerance", "1.0", "--out", str(out),
                        "--results", str(results)],
                       capture_output=True, text=True, cwd=REPO, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads(out.read_text())
    assert rec["notebooks_s"]["01_file_creation"] > 0
    assert (tmp_path / "build" / "01_file_creation.ipynb").exists()
    check = rec["precision_check"]
    assert 0 <= check["float32_accuracy"] <= 1 and 0 <= check["gpu_settings_accuracy"] <= 1
    assert check["passed"]  # tolerance 1.0
    assert rec["gpu"]["present"] is False or rec["gpu"]["names"]
    merged = json.loads(results.read_text())["benchmarks"]
    assert merged["training"] == {"kept": True}  # the other entries stay
    assert merged["paper_gpu"]["result"]["notebooks_s"] == rec["notebooks_s"]


def _gated_run(monkeypatch, tmp_path, *, passed, gpu=("NVIDIA H200, 143771 MiB",)):
    """paper_gpu.run with the precision check's verdict given and the notebooks stubbed."""
    sys.path.insert(0, str(REPO / "bench"))
    import paper_gpu
    monkeypatch.setattr(paper_gpu, "gpus", lambda: list(gpu))
    monkeypatch.setattr(paper_gpu, "precision_check", lambda **kw: {"passed": passed})
    calls = []

    def fake_run(cmd, cwd=None, env=None, **kw):
        calls.append((cmd, dict(env)))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(paper_gpu.subprocess, "run", fake_run)
    args = paper_gpu.main.__globals__["argparse"].Namespace(
        profile="smoke", data="synthetic", build=str(tmp_path / "b"),
        figures=str(tmp_path / "f"), notebooks=",".join(paper_gpu.NOTEBOOKS), xla="auto",
        check_n=128, check_epochs=1, tolerance=0.02, dry_run=False)
    record = paper_gpu.run(args, log=lambda s: None)
    return record, calls


@pytest.mark.parametrize("passed", [True, False])
def test_xla_and_mixed_precision_reach_the_notebooks_only_when_exact_enough(
        monkeypatch, tmp_path, passed):
    record, calls = _gated_run(monkeypatch, tmp_path, passed=passed)
    assert record["xla"] is passed and record["mixed_precision"] is passed
    notebooks = [env for cmd, env in calls if "--notebook" in cmd]
    assert len(notebooks) == 6
    for env in notebooks:
        # the kernels read both from their environment
        assert ("--tf_xla_auto_jit=2" in env.get("TF_XLA_FLAGS", "")) is passed
        assert env["DEEPSHADOWS_MIXED_PRECISION"] == ("1" if passed else "0")
    # every notebook ran: the figures are checked last
    assert "--check" in calls[-1][0] and record["figures_check"] == "passed"


def test_without_a_gpu_the_notebooks_train_in_float32(monkeypatch, tmp_path):
    record, calls = _gated_run(monkeypatch, tmp_path, passed=True, gpu=())
    assert record["xla"] is False and record["mixed_precision"] is False
    assert all(env["DEEPSHADOWS_MIXED_PRECISION"] == "0" for _, env in calls)
    assert "no GPU" in record["note"]



def test_the_mixed_precision_switch_is_the_one_train_cnn_reads():
    # paper_gpu keeps its own copy of the name (importing the library's would load
    # TensorFlow into the driver process): the two must not drift apart
    sys.path.insert(0, str(REPO / "bench"))
    import paper_gpu
    from deepshadows_lib.nn import training
    assert paper_gpu.MIXED_PRECISION_ENV == training.MIXED_PRECISION_ENV
