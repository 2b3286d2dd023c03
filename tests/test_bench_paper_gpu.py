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
