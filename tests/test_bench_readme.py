"""The README's performance section quotes bench/results.json, through bench/readme_tables.py."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("readme_tables",
                                                  REPO / "bench" / "readme_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_readme_block_is_generated_from_the_committed_results(tables):
    readme = (REPO / "README.md").read_text()
    results = json.loads((REPO / "bench" / "results.json").read_text())
    assert tables.BEGIN in readme and tables.END in readme
    assert tables.render(readme, results) == readme, \
        "README's benchmark block is stale: run python bench/readme_tables.py"


def _summary(m, lo, hi):
    return {"median": m, "min": lo, "max": hi, "n": 5}


def test_the_table_shows_the_pair_ratios_and_the_load(tables):
    results = {"date": "2026-11-29T19:00:00+0000", "machine": {"cpu": "AMD EPYC", "cores": 2},
               "benchmarks": {"training": {
                   "date": "2026-11-29T19:00:00+0000", "loadavg": [3.5, 3, 3],
                   "loadavg_after": [4.25, 4, 4],
                   "result": {"pairs": 5, "n_train": 4096, "timed_epochs": 2,
                              "matmul_peak_gflops": 300.0, "flops": {"train_mflop": 88.7},
                              "training": {
                                  "train_plain": _summary(800, 700, 900),
                                  "train_library": _summary(1000, 900, 1100),
                                  "ratio": _summary(1.25, 1.1, 1.4),
                                  "ratio_per_cpu_s": _summary(1.3, 1.2, 1.5),
                                  "train_plain_fraction_of_peak": _summary(0.24, 0.2, 0.3),
                                  "train_library_fraction_of_peak": _summary(0.3, 0.25,
                                                                             0.35)}}}}}
    text = tables.block(results)
    assert "**1.25x** (1.10-1.40, 5 pairs)" in text
    assert "3.5 -> 4.2" in text and "2026-11-29 19:00" in text
    assert "plain 24%, library 30%" in text
    readme = f"intro\n{tables.BEGIN}\nold\n{tables.END}\nrest\n"
    out = tables.render(readme, results)
    assert out.startswith("intro\n") and out.endswith("\nrest\n") and "old" not in out


def test_the_simulator_breakdown_is_shown_when_the_entry_has_one(tables):
    stages = [{"stage": "render", "label": "rendering (render.render_scene)",
               "ms_per_cutout": 0.9, "share": 0.6},
              {"stage": "sersic", "label": "  of which GalSim Sersic drawing", "of": "render",
               "ms_per_cutout": 0.2, "share": 0.13},
              {"stage": "sep_extract", "label": "sep.extract", "ms_per_cutout": 0.6,
               "share": 0.4}]
    bd = {"objects": 600, "classes": ["lsbg", "artifact2", "artifact1"], "stages": stages,
          "cpu_ms_per_cutout": 1.5, "cpu_ms_per_cutout_without_timers": 1.45,
          "attempts_per_object": 1.7, "rejected_attempts_ms_per_cutout": 0.5,
          "rejected_attempts_share": 0.33,
          "per_class": {"lsbg": {"attempts_per_object": 1.07,
                                 "rejected_attempts_ms_per_object": 0.09}},
          "floor": {"ms_per_cutout": 1.5, "max_cutouts_per_s": 1333,
                    "target_budget_ms_per_cutout": 2.0},
          "pool_ms_per_cutout": {"workers": 2, "ms_per_cutout": 0.12}}
    res = {"machine": {"cores": 2}, "benchmarks": {"simulate": {"result": {
        "cutouts_per_s": {"current workers=2": 600.0}, "cpu_ms_per_cutout": {"current": 3.3},
        "target_cutouts_per_s": 1000, "breakdown": bd}}}}
    text = tables.simulate_table(res)
    assert "| rendering (render.render_scene) | 0.900 | 60.0% |" in text
    assert "| *of which GalSim Sersic drawing* | 0.200 | 13.0% |" in text
    assert "at most 1,333 cutouts/s on 2 cores" in text and "+0.12 CPU-ms" in text
    assert "Where the simulator's time goes" in tables.block(res)
    assert tables.simulate_table({"benchmarks": {}}) == ""


def test_a_ratio_that_rounds_to_zero_keeps_its_significant_digits(tables):
    tiny = {"median": 0.0010792, "min": 0.0010792, "max": 0.0010792, "n": 1}
    assert tables._range(tiny) == "**0.0011x** (0.0011-0.0011, 1 pair)"
    usual = {"median": 1.234, "min": 1.1, "max": 1.4, "n": 5}
    assert tables._range(usual) == "**1.23x** (1.10-1.40, 5 pairs)"
