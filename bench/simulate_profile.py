"""Where the synthetic survey spends its time: a cProfile of one process, per stage.

Run: ``.venv/bin/python bench/simulate_profile.py [--n-per-class N] [--out PATH]``.

Profiles ``simulate.simulate_objects`` (LSBGs and type-2 artifacts, one process, after a
warm-up) and writes the CPU share of each stage to ``bench/simulate_profile.json``,
with the machine's load beside it.  sep's C calls are timed by wrapping them (cProfile
folds Cython calls into their caller).  Not a test; shares depend on the load a little.
"""

import argparse
import cProfile
import json
import os
import pstats
import time
from pathlib import Path

import sep

from deepshadows_lib import photometry, simulate

ROOT = Path(__file__).resolve().parent.parent

#: stage -> functions whose cumulative time it is (file suffix, function name)
STAGES = {
    "parameter draws (population.draw_params)": [("population.py", "draw_params")],
    "rendering (render.render_scene)": [("render.py", "render_scene")],
    "  of which GalSim Sersic drawing (render._draw_sersic)": [("render.py", "_draw_sersic")],
    "  of which PSF convolution (render._convolve_psf)": [("render.py", "_convolve_psf")],
    "  of which field stars and galaxies (render._compact_stamps, _stamp_add)":
        [("render.py", "_compact_stamps"), ("render.py", "_stamp_add")],
    "measurement (photometry.measure)": [("photometry.py", "measure")],
    "  of which sep.extract (detection, deblending)": [("bench", "extract")],
    "  of which sep.kron_radius and sep.sum_ellipse": [("bench", "kron_radius"),
                                                       ("bench", "sum_ellipse")],
    "cutout (noise, saturation, colour mapping, JPEG)": [("cutout.py", "_cutout")],
}


def _timed(name, fn, acc):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[name] = acc.get(name, 0.0) + time.perf_counter() - t0
    return wrapper


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-class", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "bench" / "simulate_profile.json"))
    args = ap.parse_args()
    simulate.simulate_objects(n_per_class=4, seed=99)          # warm caches, not timed
    acc = {}
    for name in ("extract", "kron_radius", "sum_ellipse"):
        setattr(photometry.sep, name, _timed(name, getattr(sep, name), acc))
    prof = cProfile.Profile()
    load = os.getloadavg()[0]
    t0 = time.process_time()
    prof.enable()
    images, cat = simulate.simulate_objects(n_per_class=args.n_per_class, seed=1,
                                            classes=("lsbg", "artifact2"))
    prof.disable()
    cpu = time.process_time() - t0
    stats = pstats.Stats(prof).stats
    total = max(ct for (_, _, fn), (_, _, _, ct, _) in stats.items()
                if fn == "simulate_objects")
    shares = {}
    for stage, funcs in STAGES.items():
        t = 0.0
        for suffix, name in funcs:
            if suffix == "bench":
                t += acc.get(name, 0.0)
                continue
            t += sum(ct for (f, _, fn), (_, _, _, ct, _) in stats.items()
                     if fn == name and f.endswith(suffix))
        shares[stage] = round(t / total, 3)
    result = {"benchmark": "simulate_profile", "objects": len(images),
              "classes": ["lsbg", "artifact2"], "renderings_per_object":
              round(float(cat.true_attempts.mean()), 3),
              "cpu_s_profiled": round(cpu, 2), "cpu_ms_per_cutout_profiled":
              round(1e3 * cpu / len(images), 2), "load_average_1min": round(load, 2),
              "cpus": os.cpu_count(), "generator_version": simulate.GENERATOR_VERSION,
              "share_of_cpu": shares,
              "note": ("cProfile, one process; shares of simulate_objects' time. sep.extract "
                       "(sep's C code) is left as it is: its parameters make the catalog")}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
