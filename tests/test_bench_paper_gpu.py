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


def _paper_gpu():
    sys.path.insert(0, str(REPO / "bench"))
    import paper_gpu
    return paper_gpu


def _args(paper_gpu, *argv):
    ap_args = paper_gpu.main.__globals__["argparse"].Namespace(
        profile=None, build=None, figures=None)
    for key, value in zip(argv[::2], argv[1::2]):
        setattr(ap_args, key, value)
    return ap_args


def test_without_a_gpu_and_no_profile_the_smoke_profile_runs_on_the_cpu():
    paper_gpu = _paper_gpu()
    said = []
    a = paper_gpu.resolve(_args(paper_gpu), [], log=said.append)
    # the paper profile on 2 CPU cores would take days: the check of the command instead,
    # its figures away from the committed ones
    assert a.profile == "smoke" and a.build == "build/smoke-gpu"
    assert Path(a.figures) == Path("build/smoke-gpu/figures")
    assert len(said) == 1 and "no GPU" in said[0] and "\n" not in said[0]
    a = paper_gpu.resolve(_args(paper_gpu), ["NVIDIA H200, 143771 MiB"], log=said.append)
    assert (a.profile, a.build, a.figures) == ("paper", "build/paper-gpu", "figures")
    a = paper_gpu.resolve(_args(paper_gpu, "profile", "paper"), [], log=said.append)
    assert a.profile == "paper" and len(said) == 1  # asked for: no fallback, no line


def test_the_make_target_leaves_the_profile_to_the_script_unless_given():
    r = subprocess.run(["make", "-n", "-W", "pyproject.toml", "paper-gpu"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    line = [ln for ln in r.stdout.splitlines() if "paper_gpu.py" in ln][-1]
    assert "--profile" not in line and "--figures" not in line
    r = subprocess.run(["make", "-n", "paper-gpu", "PROFILE=smoke"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert "--profile smoke" in [ln for ln in r.stdout.splitlines() if "paper_gpu.py" in ln][-1]


def test_the_entry_carries_its_date_and_load_and_a_cpu_run_keeps_the_gpu_one(tmp_path):
    paper_gpu = _paper_gpu()
    out, results = tmp_path / "paper_gpu.json", tmp_path / "results.json"
    results.write_text(json.dumps({"benchmarks": {"training": {"kept": True}}}))
    stamp = {"date": "2026-12-01T10:00:00+0000", "loadavg": [0.1, 0.2, 0.3],
             "loadavg_after": [1.0, 1.0, 1.0], "cpu": "x", "cores": 16}
    on_gpu = {**stamp, "gpu": {"present": True, "names": ["H200"]},
              "notebooks_s": {"01_file_creation": 30.0}}
    assert paper_gpu.save(on_gpu, out, results, log=lambda s: None) == out
    entry = json.loads(results.read_text())["benchmarks"]["paper_gpu"]
    # every entry of results.json says when and under what load at its top
    assert entry["date"] == stamp["date"] and entry["loadavg"] == stamp["loadavg"]
    assert entry["result"] == on_gpu
    on_cpu = {**stamp, "date": "2026-12-02T10:00:00+0000",
              "gpu": {"present": False, "names": []}, "notebooks_s": {"01_file_creation": 9.0}}
    said = []
    written = paper_gpu.save(on_cpu, out, results, log=said.append)
    assert written == tmp_path / "paper_gpu.cpu.json" and json.loads(written.read_text()) == on_cpu
    assert json.loads(out.read_text()) == on_gpu and len(said) == 1
    assert json.loads(results.read_text())["benchmarks"]["paper_gpu"] == entry


def test_make_bench_folds_the_gpu_record_in_with_its_date_and_load(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "bench"))
    import run_all
    record = {"date": "2026-12-01T10:00:00+0000", "loadavg": [0.1, 0.2, 0.3],
              "gpu": {"present": True, "names": ["H200"]}, "notebooks_s": {"01": 1.0}}
    (tmp_path / "paper_gpu.json").write_text(json.dumps(record))
    monkeypatch.setattr(run_all, "BENCH", tmp_path)
    monkeypatch.setattr(run_all, "run_bench", lambda name, quick=False: {"result": {}})
    out = tmp_path / "results.json"
    assert run_all.main(["--out", str(out), "--only", "bootstrap"]) == 0
    entry = json.loads(out.read_text())["benchmarks"]["paper_gpu"]
    assert entry["date"] == record["date"] and entry["loadavg"] == record["loadavg"]
    assert entry["result"] == record
