"""Tests of bench/levers_training.py's bookkeeping: parts run now, parts kept, failed levers."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import levers_training  # noqa: E402


def test_parts_not_run_are_kept_with_the_date_they_were_measured():
    first = {"date": "2026-01-01T00:00:00+0000", "profile": {"x": 1}, "levers": {"a": 2}}
    later = levers_training.run(parts=(), previous=first, log=lambda s: None)
    assert later["profile"] == {"x": 1} and later["levers"] == {"a": 2}
    assert later["parts_kept"] == {"profile": first["date"], "levers": first["date"]}
    # a second partial run still knows when the first parts were measured
    later["threads"] = {"t": 3}
    later["parts_run"] = {"threads": "2026-02-01T00:00:00+0000"}
    again = levers_training.run(parts=(), previous=later, log=lambda s: None)
    assert again["parts_kept"] == {"profile": first["date"], "levers": first["date"],
                                   "threads": "2026-02-01T00:00:00+0000"}


def test_a_failing_lever_is_recorded_and_the_next_one_runs(monkeypatch):
    calls = []

    def pairs(script, a, b, **kw):
        calls.append(b)
        if b == "bf16":
            raise subprocess.TimeoutExpired(cmd="x", timeout=1)
        if b == "step":
            raise RuntimeError("contender step failed (-15):\nlog")
        runs = [{"images_per_cpu_s": 1.0}]
        return {"ratio": {}, "runs": {a: runs, b: runs}}

    monkeypatch.setattr(levers_training._harness, "interleaved_pairs", pairs)
    res = {}
    levers_training._levers(res, ["--n", 64, "--epochs", 2], 1, 64, lambda s: None,
                            lambda r: None)
    assert calls == list(levers_training.LEVERS)
    assert "incomplete" in res["levers"]["bf16"]
    assert res["levers"]["step"]["incomplete"] == "contender step failed (-15):"
    assert "ratio_per_cpu_s" in res["levers"]["nondeterministic"]


def test_unknown_part_is_refused(capsys):
    with pytest.raises(SystemExit):
        levers_training.main(["--parts", "profile,nope"])
    assert "unknown part(s) nope" in capsys.readouterr().err
