"""Tests of bench/bench_simulate.py's stage breakdown (bench/_simulate_stages.py)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import bench_simulate  # noqa: E402


def test_the_breakdown_adds_up_and_leaves_the_output_unchanged():
    # a child process, as in the benchmark: the timers replace library functions there
    bd = bench_simulate._breakdown(3, 5, "lsbg,artifact2,artifact1", cores=2)
    assert bd["same_output_as_without_timers"]
    assert bd["objects"] == 9 and set(bd["per_class"]) == {"lsbg", "artifact2", "artifact1"}
    top = [r for r in bd["stages"] if "of" not in r]
    assert [r["stage"] for r in top] == [s for s in bench_simulate.STAGE_LABELS
                                         if s not in sum(bench_simulate.SUBSTAGES.values(), ())]
    # the stages are the whole run: "other" is what the wrappers did not see
    assert abs(sum(r["share"] for r in top) - 1.0) < 2e-3
    assert abs(sum(r["ms_per_cutout"] for r in top) - bd["cpu_ms_per_cutout"]) < 1e-2
    assert all(r["ms_per_cutout"] >= 0 for r in top)
    for r in bd["stages"]:
        if "of" in r:
            parent = next(t for t in top if t["stage"] == r["of"])
            assert r["ms_per_cutout"] <= parent["ms_per_cutout"] + 1e-9
    assert bd["attempts_per_object"] >= 1
    assert 0 <= bd["rejected_attempts_share"] < 1
    assert bd["floor"]["max_cutouts_per_s"] > 0
