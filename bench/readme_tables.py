"""The README's performance tables, generated from ``bench/results.json``.

The README quotes benchmark numbers only through this script: ``make bench`` runs it
after ``bench/run_all.py``, and it rewrites the block between ``<!-- bench:begin -->``
and ``<!-- bench:end -->`` of README.md.  ``tests/test_bench_readme.py`` checks that
the block is what this script makes of the committed results.

    python bench/readme_tables.py [--results bench/results.json] [--readme README.md] [--check]
"""

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _f(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def _range(s, digits=2, suffix="x"):
    """'1.23x (1.10-1.40)' from a summary of _harness.summary."""
    if not s:
        return "-"
    if 0 < abs(s["median"]) < 0.5 * 10 ** -digits:
        # a ratio that rounds to zero (XLA's CPU convolutions): significant digits instead
        num = "{:.2g}".format
    else:
        num = f"{{:.{digits}f}}".format
    pairs = f"{s['n']} pair" + ("s" if s["n"] != 1 else "")
    return f"**{num(s['median'])}{suffix}** ({num(s['min'])}-{num(s['max'])}, {pairs})"


def _load(entry):
    before = (entry.get("loadavg") or [None])[0]
    after = (entry.get("loadavg_after") or [None])[0]
    if before is None:
        return "-"
    return f"{before:.1f} -> {after:.1f}" if after is not None else f"{before:.1f}"


def _part(result, part):
    """``{"date": ...}`` of when ``part`` of a benchmark run in parts was measured."""
    when = {**result.get("parts_kept", {}), **result.get("parts_run", {})}
    return {"date": when.get(part, result.get("date"))}


def _date(entry):
    return (entry.get("date") or "-")[:16].replace("T", " ")


def main_table(res):
    b = res.get("benchmarks", {})
    rows = ["| entry | measured | result | date (UTC) | load (1 min) |", "|---|---|---|---|---|"]
    t = (b.get("training") or {}).get("result")
    if t:
        tr = t["training"]
        peak = t["matmul_peak_gflops"]
        rows.append(
            f"| `training` | plain Keras `fit` vs `train_cnn`, images/s (median of "
            f"{t['pairs']}), {t['n_train']} images, {t['timed_epochs']} timed epochs | "
            f"plain {_f(tr['train_plain']['median'])}, library "
            f"{_f(tr['train_library']['median'])}; library / plain "
            f"{_range(tr['ratio'])}; per CPU-second {_range(tr['ratio_per_cpu_s'])} | "
            f"{_date(b['training'])} | {_load(b['training'])} |")
        cpu_peak = t.get("matmul_peak_gflops_per_cpu_s")
        if cpu_peak:
            rows.append(
                f"| `training` | GFLOP per CPU second as a fraction of the float32 matmul's "
                f"({_f(cpu_peak)} GFLOP per CPU second; {t['flops']['train_mflop']:.1f} "
                f"MFLOP per image and step): independent of the load | plain "
                f"{100 * tr['train_plain_fraction_of_peak_per_cpu_s']['median']:.0f}%, "
                f"library "
                f"{100 * tr['train_library_fraction_of_peak_per_cpu_s']['median']:.0f}% | "
                f"{_date(b['training'])} | {_load(b['training'])} |")
        rows.append(
            f"| `training` | fraction of the matmul peak per wall second ({_f(peak)} "
            f"GFLOP/s in the same run; meaningful on a quiet machine only) | plain "
            f"{100 * tr['train_plain_fraction_of_peak']['median']:.0f}%, library "
            f"{100 * tr['train_library_fraction_of_peak']['median']:.0f}% | "
            f"{_date(b['training'])} | {_load(b['training'])} |")
        ts = t.get("training_at_scale")
        if ts:
            rows.append(
                f"| `training` | the same with longer epochs (notebook 02: about 525 steps): "
                f"{ts['n_train']} images, {ts['timed_epochs']} timed epoch | plain "
                f"{_f(ts['train_plain']['median'])}, library "
                f"{_f(ts['train_library']['median'])}; library / plain "
                f"{_range(ts['ratio'])}; per CPU-second {_range(ts['ratio_per_cpu_s'])}; "
                f"library {100 * ts['train_library_fraction_of_peak']['median']:.0f}% of "
                f"the peak per wall second, "
                f"{100 * ts['train_library_fraction_of_peak_per_cpu_s']['median']:.0f}% per "
                f"CPU second | {_date(b['training'])} | {_load(b['training'])} |")
    p = (b.get("prediction") or {}).get("result")
    if p:
        rows.append(
            f"| `prediction` | `model.predict` vs `training.predict` (folded, uint8), "
            f"cutouts/s | plain {_f(p['predict_plain']['median'])}, library "
            f"{_f(p['predict_library']['median'])}; library / plain {_range(p['ratio'])}"
            + (f"; per CPU-second {_range(p['ratio_per_cpu_s'])}" if "ratio_per_cpu_s" in p
               else "") + f"; largest difference {p['max_abs_diff']:.1e} | {_date(b['prediction'])} | "
            f"{_load(b['prediction'])} |")
    lv = (b.get("levers_training") or {}).get("result")
    if lv:
        for name, r in lv.get("levers", {}).items():
            if "incomplete" in r:
                rows.append(f"| `levers_training` | lever `{name}` / library (incomplete) | "
                            f"{r['incomplete']} | {_date(_part(lv, 'levers'))} | - |")
                continue
            rows.append(f"| `levers_training` | lever `{name}` / library, images/s | "
                        f"{_range(r['ratio'])}; per CPU-second {_range(r['ratio_per_cpu_s'])}"
                        f" | {_date(r)} | {r['loadavg_before'][0]:.1f} -> "
                        f"{r['loadavg_after'][0]:.1f} |")
        e = b["levers_training"]
        if e.get("returncode"):
            why = next((ln for ln in e.get("stderr_tail", [])
                        if ln.strip().split(":")[0].endswith("Error")), "failed")
            rows.append(f"| `levers_training` | incomplete run (the parts above were saved "
                        f"before it stopped) | {why.strip()} | {_date(e)} | {_load(e)} |")
        th = lv.get("threads")
        if th:
            rows.append(f"| `levers_training` | two 1-thread trainings side by side / one "
                        f"2-thread training, total images/s | "
                        f"{_range(th['ratio_two_single_over_one_double'], suffix='x')} | "
                        f"{_date(_part(lv, 'threads'))} | {th['loadavg_before'][0]:.1f} -> "
                        f"{th['loadavg_after'][0]:.1f} |")
        acc = lv.get("bf16_accuracy")
        if acc:
            rows.append(f"| `levers_training` | test accuracy, float32 vs mixed bfloat16 "
                        f"({len(acc['float32'])} seeds, {acc['epochs']} epochs) | "
                        f"{', '.join(f'{v:.3f}' for v in acc['float32'])} vs "
                        f"{', '.join(f'{v:.3f}' for v in acc['mixed_bfloat16'])} "
                        f"(difference of means {acc['mean_difference']:+.3f}; float32 seed "
                        f"spread {acc['float32_seed_spread']:.3f}) | "
                        f"{_date(_part(lv, 'bf16_accuracy'))} | - |")
    for name in ("simulate", "bootstrap", "classify_1e6", "classify_bf16", "download",
                 "smoke_profile"):
        e = b.get(name)
        if not e:
            continue
        if "skipped" in e or "error" in e:
            what = e.get("skipped") or e.get("error")
        elif name == "smoke_profile":
            per_notebook = ", ".join(f"{k[:2]}: {v} s"
                                     for k, v in e.get("notebooks_s", {}).items())
            what = f"{_f(e.get('wall_s'), 1)} s end to end" + (
                f"; {per_notebook}" if per_notebook else " (no time per notebook recorded)")
        else:
            what = _SUMMARIES.get(name, _summary)(e)
        rows.append(f"| `{name}` | {_what(name)} | {what} | {_date(e)} | {_load(e)} |")
    for prof, e in sorted(res.get("paper_figures", {}).items()):
        apart = "; notebooks run at different times" if "different times" in e.get(
            "note", "") else ""
        rows.append(f"| `paper_figures.{prof}` | `make paper-figures PROFILE={prof}`, last run"
                    f"{apart} | {e['total_min']} min ("
                    + ", ".join(f"{k[:2]}: {v} s" for k, v in e["notebooks_s"].items())
                    + f") | {e['date'][:16].replace('T', ' ')} | - |")
    g = (b.get("paper_gpu") or {}).get("result")
    if g:
        where = ", ".join(g["gpu"]["names"]) or "no GPU (CPU)"
        rows.append(f"| `paper_gpu` | `make paper-gpu` ({g['profile']}, {where}, XLA "
                    f"{'on' if g.get('xla') else 'off'}) | {g.get('total_s')} s | "
                    f"{_date(g)} | {_load(g)} |")
    return "\n".join(rows)


def _what(name):
    return {"simulate": "`bench/bench_simulate.py` (synthetic survey)",
            "bootstrap": "`bench/bench_bootstrap.py` (vectorised bootstrap vs a loop)",
            "classify_1e6": "`bench/bench_classify.py` (10^6 cutouts from a store)",
            "classify_bf16": "`bench/bench_classify.py --precision bfloat16` (the opt-in, "
                             "batch 1024)",
            "download": "`bench/bench_download.py` (viewer client, 200 ms latency)",
            "smoke_profile": "smoke profile, every notebook"}[name]


def _summary(e):
    r = e.get("result")
    if isinstance(r, dict):
        flat = {k: v for k, v in r.items() if isinstance(v, (int, float))
                and not isinstance(v, bool)}
        keys = [k for k in flat if any(s in k for s in ("per_s", "ratio", "speed", "wall",
                                                        "peak", "throughput"))][:5]
        if keys:
            return "; ".join(f"{k} {flat[k]:,.4g}" for k in keys)
    out = e.get("output") or []
    return out[-1] if out else f"{e.get('wall_s')} s"


def _simulate(e):
    r = e["result"]
    rates = ", ".join(f"{k.split()[-1]}: {v:,.0f}/s" for k, v in r["cutouts_per_s"].items())
    paper = r.get("paper_size") or {}
    out = f"{rates} ({r['cpu_ms_per_cutout']['current']:.2f} CPU-ms a cutout)"
    if paper:
        out += f"; paper size ({paper['objects']:,} objects): {paper['cutouts_per_s']:,.0f}/s"
    return out + f"; target {r['target_cutouts_per_s']:,}/s"


def _classify(e):
    r = e["result"]
    s = r["runs"]["single"]
    return (f"{s['cutouts']:,} cutouts in {s['wall_s']:.0f} s: {s['cutouts_per_s']:,.0f}/s "
            f"({s['cutouts_per_cpu_s']:,.0f} per CPU-s; forward pass alone "
            f"{r['runs']['forward']['cutouts_per_cpu_s']:,.0f} per CPU-s), peak memory "
            f"{s['peak_rss_mb']:,.0f} MB; goal {r['goal_cutouts_per_s']:,.0f}/s")


def _download(e):
    r = e["result"]
    parts = []
    for name, sc in r["scenarios"].items():
        runs = f", median of {sc['runs']} runs" if sc.get("runs", 1) > 1 else ""
        parts.append(f"{name} ({sc['workers']} workers, {sc['rate_limit']:g}/s, "
                     f"{sc['n']:,} cutouts{runs}): "
                     f"{sc['throughput_per_s']:.1f}/s = {100 * sc['fraction_of_ideal']:.0f}% of "
                     f"ideal, at most {sc['max_requests_in_any_1s_window']} requests in any "
                     f"second")
    return "; ".join(parts) + f" (goal {100 * r['goal_fraction']:.0f}%)"


def _classify_bf16(e):
    fwd = e["result"]["runs"]["forward"]
    diff = fwd.get("max_abs_dp_vs_float32")
    return _classify(e) + (f"; largest difference from float32 {diff:.1e}" if diff is not None
                           else "")


def _bootstrap(e):
    r = e.get("result")
    if not isinstance(r, dict) or "speed_up" not in r:  # a record of before the JSON line
        return _summary(e)
    return (f"{r['n']:,} objects, {r['resamples']:,} resamples: speed-up "
            f"{r['speed_up']:.1f}x; largest difference {r['max_difference']:.1e}")


_SUMMARIES = {"simulate": _simulate, "bootstrap": _bootstrap, "classify_1e6": _classify,
              "classify_bf16": _classify_bf16, "download": _download}


def profile_table(res):
    lv = ((res.get("benchmarks", {}).get("levers_training") or {}).get("result") or {})
    pr = lv.get("profile")
    if not pr:
        return ""
    total = pr["layers_total_ms"] + pr["optimizer_update_ms"]
    rows = ["| part of a training step (batch 64) | forward ms | forward + backward ms | "
            "share |", "|---|---|---|---|"]
    for r in pr["layers"]:
        rows.append(f"| {r['layer']} ({r['type']}, in {'x'.join(map(str, r['input'][1:]))})"
                    f" | {r['forward_ms']:.1f} | {r['forward_backward_ms']:.1f} | "
                    f"{100 * r['forward_backward_ms'] / total:.0f}% |")
    rows.append(f"| optimizer update (fused Adadelta, all weights) | | "
                f"{pr['optimizer_update_ms']:.1f} | {100 * pr['optimizer_update_ms'] / total:.0f}% |")
    rows.append(f"| sum of the parts (each timed alone) | | {total:.1f} | 100% |")
    rows.append(f"| the step in Keras' `fit` (measured) | | {pr['keras_step_ms']:.1f} | |")
    if "library_step_ms" in pr:
        rows.append(f"| the same step in `nn.fit`'s epoch loop (measured) | | "
                    f"{pr['library_step_ms']:.1f} | |")
    rows.append(f"| input pipeline per batch (overlaps the step) | | "
                f"{pr['input_pipeline_ms_per_batch']:.1f} | |")
    by = pr["by_type_ms"]
    kinds = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in
                      sorted(by.items(), key=lambda kv: -kv[1]))
    pad = pr["conv1_padded_channels"]
    pads = ", ".join(f"{c} channels {v['forward_weight_gradient_ms']:.1f} ms"
                     for c, v in sorted(pad.items(), key=lambda kv: int(kv[0])))
    text = "\n".join(rows) + (f"\n\nBy kind of layer: {kinds}.  The first convolution "
                              f"(forward + weight gradient) with its input padded: {pads}.")
    if "ceiling_fraction_of_peak" in pr:
        text += (f"  A ceiling: with every FLOP of the step at the matmul's peak "
                 f"({pr['matmul_peak_gflops']:.0f} GFLOP/s in the same process: "
                 f"{pr['flops_at_peak_ms']:.1f} ms) and the layers that do no matmul "
                 f"(batch norm, max-pool, dropout, flatten) with the update at their "
                 f"measured {pr['memory_bound_ms']:.1f} ms, a step would reach "
                 f"{100 * pr['ceiling_fraction_of_peak']:.0f}% of the peak.")
    return text


def simulate_table(res):
    """Where the simulator's CPU time goes: the ``breakdown`` of the ``simulate`` entry."""
    bd = (((res.get("benchmarks", {}).get("simulate") or {}).get("result") or {})
          .get("breakdown"))
    if not bd:
        return ""
    rows = ["| stage of `simulate_survey` (one worker) | CPU-ms a cutout | share |",
            "|---|---|---|"]
    for r in bd["stages"]:
        label = f"*{r['label'].strip()}*" if "of" in r else r["label"]
        rows.append(f"| {label} | {r['ms_per_cutout']:.3f} | {100 * r['share']:.1f}% |")
    rows.append(f"| total (timed; {bd['cpu_ms_per_cutout_without_timers']:.2f} without the "
                f"timers) | {bd['cpu_ms_per_cutout']:.3f} | 100% |")
    att = ", ".join(f"{c} {v['attempts_per_object']:.2f}" for c, v in bd["per_class"].items())
    rej = ", ".join(f"{c} {v['rejected_attempts_ms_per_object']:.2f}"
                    for c, v in bd["per_class"].items())
    f = bd["floor"]
    cores = res.get("machine", {}).get("cores", 2)
    text = (f"\n\n{bd['objects']:,} objects ({', '.join(bd['classes'])}).  Renderings per "
            f"object {bd['attempts_per_object']:.2f} ({att}); the attempts that the catalog "
            f"cuts rejected take {bd['rejected_attempts_ms_per_cutout']:.2f} CPU-ms a cutout, "
            f"{100 * bd['rejected_attempts_share']:.0f}% of the time (ms per object: {rej}).  "
            f"Rendering and sep.extract alone cost {f['ms_per_cutout']:.2f} CPU-ms a cutout: "
            f"at most {f['max_cutouts_per_s']:,} cutouts/s on {cores} cores if everything "
            f"else were free; the target of 1,000/s leaves "
            f"{f['target_budget_ms_per_cutout']:.2f} CPU-ms a cutout for everything.")
    pool = bd.get("pool_ms_per_cutout")
    if pool:
        text += (f"  The process pool with {pool['workers']} workers adds "
                 f"{pool['ms_per_cutout']:+.2f} CPU-ms a cutout (start-up, pickling the "
                 f"images and rows; workers={pool['workers']} minus workers=1).")
    return "\n".join(rows) + text


def block(res):
    parts = [BEGIN, "", f"Generated by `bench/readme_tables.py` from `bench/results.json` "
             f"(written {res.get('date', '-')[:16].replace('T', ' ')} UTC on "
             f"{res.get('machine', {}).get('cpu', '?')}, "
             f"{res.get('machine', {}).get('cores', '?')} cores).", "", main_table(res)]
    prof = profile_table(res)
    if prof:
        parts += ["", "Where a training step's time goes (entry `levers_training`, "
                  "`profile`):", "", prof]
    sim = simulate_table(res)
    if sim:
        parts += ["", "Where the simulator's time goes (entry `simulate`, `breakdown`):", "",
                  sim]
    return "\n".join(parts + ["", END])


def render(readme_text, res):
    i, j = readme_text.find(BEGIN), readme_text.find(END)
    if i < 0 or j < 0:
        raise SystemExit(f"README has no {BEGIN} ... {END} block")
    return readme_text[:i] + block(res) + readme_text[j + len(END):]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(REPO / "bench" / "results.json"))
    ap.add_argument("--readme", default=str(REPO / "README.md"))
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the README's block differs from the results")
    a = ap.parse_args(argv)
    res = json.loads(Path(a.results).read_text())
    text = Path(a.readme).read_text()
    new = render(text, res)
    if a.check:
        return 0 if new == text else 1
    Path(a.readme).write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
