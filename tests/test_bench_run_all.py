"""Tests of bench/run_all.py's bookkeeping (``make bench``), with the benchmarks stubbed."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import run_all  # noqa: E402


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setattr(run_all, "run_bench", lambda name, quick=False: {"result": {"x": 1}})
    monkeypatch.setattr(run_all, "notebook_times", lambda: {"default": {"total_s": 99.0}})


def test_only_keeps_the_notebook_times_that_out_holds(tmp_path, stubbed):
    out = tmp_path / "results.json"
    kept = {"default": {"total_s": 3649.3, "note": "one make paper-figures"}}
    out.write_text(json.dumps({"benchmarks": {"simulate": {"result": {"y": 2}}},
                               "paper_figures": kept}))
    assert run_all.main(["--out", str(out), "--only", "download"]) == 0
    res = json.loads(out.read_text())
    assert res["paper_figures"] == kept
    assert res["benchmarks"]["download"] == {"result": {"x": 1}}
    assert res["benchmarks"]["simulate"] == {"result": {"y": 2}}


def test_a_full_run_records_the_notebook_times_of_build(tmp_path, stubbed, monkeypatch):
    monkeypatch.setattr(run_all, "BENCHES", {"download": run_all.BENCHES["download"]})
    monkeypatch.setattr(run_all, "run_smoke", lambda: {"wall_s": 1.0})
    out = tmp_path / "results.json"
    earlier = {"total_s": 1.0, "notebooks_s": {"01": 1.0}, "note": "by hand",
               "before": [{"total_s": 0.5}]}
    out.write_text(json.dumps({"paper_figures": {"default": earlier}}))
    assert run_all.main(["--out", str(out)]) == 0
    record = json.loads(out.read_text())["paper_figures"]["default"]
    assert record["total_s"] == 99.0
    # the earlier run and its own history are kept, newest first
    assert record["before"] == [{k: v for k, v in earlier.items() if k != "before"},
                                {"total_s": 0.5}]


def test_a_full_run_keeps_the_annotated_record_of_the_same_notebooks(tmp_path, stubbed,
                                                                      monkeypatch):
    monkeypatch.setattr(run_all, "BENCHES", {"download": run_all.BENCHES["download"]})
    monkeypatch.setattr(run_all, "run_smoke", lambda: {"wall_s": 1.0})
    same = {"notebooks_s": {"01_file_creation": 136.1}, "total_s": 136.1}
    monkeypatch.setattr(run_all, "notebook_times", lambda: {"default": dict(same)})
    recorded = {**same, "wall_s_make": 140.0, "note": "one make paper-figures",
                "before": [{"total_s": 3000.0}]}
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"paper_figures": {"default": recorded}}))
    assert run_all.main(["--out", str(out)]) == 0
    assert json.loads(out.read_text())["paper_figures"] == {"default": recorded}


def test_the_smoke_profile_entry_holds_the_seconds_of_each_notebook(monkeypatch):
    # the notebooks stubbed: each "executed" copy records its seconds, as the runner does
    def fake_run(cmd, **kw):
        build = Path(cmd[cmd.index("--build") + 1])
        build.mkdir(parents=True, exist_ok=True)
        for k, name in enumerate(("01_file_creation", "02_deepshadows")):
            (build / f"{name}.ipynb").write_text(json.dumps(
                {"metadata": {"deepshadows": {"seconds": 10.0 + k}}}))
        return run_all.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(run_all.subprocess, "run", fake_run)
    entry = run_all.run_smoke()
    assert entry["returncode"] == 0
    assert entry["notebooks_s"] == {"01_file_creation": 10.0, "02_deepshadows": 11.0}
    assert "date" in entry and "loadavg" in entry and "loadavg_after" in entry


def test_every_benchmark_that_writes_a_file_is_told_to_write_it():
    # run_all folds in the file a benchmark wrote during the run; a command without
    # --out left the committed file as it was (stale) and the entry without its source
    for name, (cmd, _, written, _) in run_all.BENCHES.items():
        if written:
            assert "--out" in cmd and cmd[cmd.index("--out") + 1] == written, name


def test_the_bootstrap_benchmark_leaves_a_record_for_its_entry(capsys):
    import bench_bootstrap
    assert bench_bootstrap.main(["--n", "300", "--resamples", "20",
                                 "--loop-resamples", "5"]) == 0
    record = run_all._last_json(capsys.readouterr().out.strip())
    assert record is not None  # the entry's result was null: only its printed lines
    assert record["n"] == 300 and record["resamples"] == 20
    assert record["speed_up"] == pytest.approx(record["loop_s_scaled"]
                                               / record["vectorised_s"])
    assert record["max_difference"] < 1e-12 and "date" in record and "loadavg" in record
