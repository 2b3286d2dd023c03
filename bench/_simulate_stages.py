"""Where the synthetic survey's CPU time goes (the child process of ``bench_simulate.py
--breakdown``).

Run: ``python bench/_simulate_stages.py N SEED CLASSES`` with the library to time first on
``PYTHONPATH``; prints one JSON object.

The library is timed from outside: the functions that ``simulate/objects.py``'s
``_simulate_batch`` calls (``draw_params``, ``render_scene``, ``measure``,
``passes_cuts``, ``_cutout``), sep's functions as ``photometry`` sees them, the
renderer's and the cutout's helpers, and the store's writes are replaced in this process
by wrappers that add up the CPU time (``time.process_time_ns``) spent in them.  The sky
noise is drawn by ``rng.standard_normal`` of each object's own generator: the object's
generator is replaced by an instance of a subclass that times that one method, on the
same bit generator (the same numbers).  What the batch does between those calls (the sum
of scene and noise before a measurement, building a catalog row after a cutout) is
attributed from the gaps between them.

Each stage call inside the redraw loop is charged to its object's current attempt, so
the time spent on attempts that the catalog cuts rejected is known per class.  The same
survey is first made without wrappers: the difference in CPU time is the wrappers'
overhead, and the two stores' content hashes must agree.
"""

import json
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

from deepshadows_lib import photometry, simulate, store
from deepshadows_lib.simulate import cutout, objects, population, render, survey

clock = time.process_time_ns

#: top-level stages, in the order of the table; their times add up to the whole run
STAGES = ("draw", "render", "noise", "sep_extract", "measure_rest", "cuts", "cutout",
          "rows", "batch_other", "frame", "store_writes", "finalize", "outside_other")

#: parts of a stage, shown under it (not added to the total)
SUBSTAGES = {
    "draw": {"prescreen": (population, "_likely_passes")},
    "render": {"sersic": (render, "_draw_sersic"), "psf": (render, "_convolve_psf"),
               "compact_stamps": (render, "_compact_stamps"),
               "stamp_add": (render, "_stamp_add"),
               "bright_star": (render, "_draw_bright_star"),
               "cirrus": (render, "_draw_cirrus")},
    "measure_rest": {"sep_kron_sum": None},
    "cutout": {"saturate": (cutout, "_saturate"), "to_rgb": (cutout, "to_rgb"),
               "jpeg": (cutout, "_jpeg")},
}

#: stages charged to an attempt of the redraw loop (the rest is per kept object)
ATTEMPT_STAGES = ("draw", "render", "noise", "sep_extract", "measure_rest", "cuts")


class _Recorder:
    """CPU nanoseconds per stage, per sub-stage and per (object, attempt)."""

    def __init__(self):
        self.ns = defaultdict(int)
        self.sub_ns = defaultdict(int)
        self.calls = defaultdict(int)
        self.last = None            # end of the last top-level call inside a batch
        self.last_stage = None
        self.attempts = {}          # (class, k) -> list of {stage: ns} per attempt
        self.by_rng = {}            # id(generator) -> (class, k)
        self.by_params = {}         # id(params) -> (class, k)
        self.measure_queue = []     # objects whose catalog noise is drawn, to be measured
        self.current = None         # the object being measured
        self.extract_ns = 0         # sep.extract inside the current measure call

    def charge(self, stage, ns, obj=None):
        self.ns[stage] += ns
        self.calls[stage] += 1
        if obj is not None and stage in ATTEMPT_STAGES:
            self.attempts[obj][-1][stage] += ns

    def gap(self, t, next_stage, obj=None):
        """Charge the time since the last top-level call to what happens in between."""
        if self.last is None:
            return
        if next_stage == "measure":
            stage = "noise"          # the scene plus its sky noise, just before measuring
        elif next_stage == "cutout":
            stage = "noise"          # the z band and the tile's numbers put together
        elif self.last_stage == "cutout":
            stage = "rows"           # the catalog row of the object just cut out
        else:
            stage = "batch_other"
        self.ns[stage] += t - self.last
        if obj is not None and stage in ATTEMPT_STAGES:
            self.attempts[obj][-1][stage] += t - self.last


R = _Recorder()


class _TimedGenerator(np.random.Generator):
    """A generator whose ``standard_normal`` (the sky noise) is timed."""

    def standard_normal(self, *args, **kwargs):
        t0 = clock()
        obj = R.by_rng.get(id(self))
        size = args[0] if args else kwargs.get("size")
        in_loop = np.ndim(size) == 1 and len(size) == 3 and size[0] == objects._N_CAT
        R.gap(t0, "noise", obj if in_loop else None)
        out = super().standard_normal(*args, **kwargs)
        t1 = clock()
        R.charge("noise", t1 - t0, obj if in_loop else None)
        if in_loop:
            R.measure_queue.append(obj)
        R.last, R.last_stage = t1, "noise"
        return out


def _timed_rng(orig):
    def rng(seed, class_name, k):
        g = _TimedGenerator(orig(seed, class_name, k).bit_generator)
        R.by_rng[id(g)] = (class_name, int(k))
        R.attempts[(class_name, int(k))] = []
        return g
    return rng


def _timed_draw(orig):
    def draw_params(class_name, rng, **kwargs):
        obj = R.by_rng[id(rng)]
        R.attempts[obj].append(defaultdict(int))
        t0 = clock()
        R.gap(t0, "draw")
        params = orig(class_name, rng, **kwargs)
        t1 = clock()
        R.charge("draw", t1 - t0, obj)
        R.by_params[id(params)] = obj
        R.last, R.last_stage = t1, "draw"
        return params
    return draw_params


def _timed_render(orig):
    def render_scene(params, **kwargs):
        obj = R.by_params.get(id(params))
        t0 = clock()
        R.gap(t0, "render")
        out = orig(params, **kwargs)
        t1 = clock()
        R.charge("render", t1 - t0, obj)
        R.last, R.last_stage = t1, "render"
        return out
    return render_scene


def _timed_measure(orig):
    def measure(images, **kwargs):
        if kwargs.get("cuts") is not None:
            R.current = R.measure_queue.pop(0)
        # else: the full measurement of an object kept after its last attempt
        obj = R.current
        t0 = clock()
        R.gap(t0, "measure", obj)
        R.extract_ns = 0
        out = orig(images, **kwargs)
        t1 = clock()
        R.charge("sep_extract", R.extract_ns, obj)
        R.charge("measure_rest", t1 - t0 - R.extract_ns, obj)
        R.last, R.last_stage = t1, "measure"
        return out
    return measure


def _timed_passes(orig):
    def passes_cuts(row, cuts=None):
        t0 = clock()
        R.gap(t0, "cuts", R.current)
        out = orig(row, cuts)
        t1 = clock()
        R.charge("cuts", t1 - t0, R.current)
        R.last, R.last_stage = t1, "cuts"
        return out
    return passes_cuts


def _timed_cutout(orig):
    def _cutout(*args, **kwargs):
        t0 = clock()
        R.gap(t0, "cutout")
        out = orig(*args, **kwargs)
        t1 = clock()
        R.charge("cutout", t1 - t0)
        R.last, R.last_stage = t1, "cutout"
        return out
    return _cutout


def _timed_batch(orig):
    def _simulate_batch(items, seed, survey_name):
        t0 = clock()
        R.last, R.last_stage = t0, None
        out = orig(items, seed, survey_name)
        t1 = clock()
        R.gap(t1, "end")
        R.ns["batch"] += t1 - t0
        R.last = None
        return out
    return _simulate_batch


def _timed_plain(stage, orig, *, sub=False):
    """A function outside the batch (store writes, the catalog frame), or with ``sub`` a
    part of a stage (its time is also inside the stage's)."""
    def wrapper(*args, **kwargs):
        t0 = clock()
        try:
            return orig(*args, **kwargs)
        finally:
            if sub:
                R.sub_ns[stage] += clock() - t0
            else:
                R.ns[stage] += clock() - t0
                R.calls[stage] += 1
    return wrapper


class _TimedSep:
    """sep as ``photometry`` sees it: extract, kron_radius and sum_ellipse timed."""

    def __init__(self, sep):
        self._sep = sep

    def __getattr__(self, name):
        return getattr(self._sep, name)

    def extract(self, *args, **kwargs):
        t0 = clock()
        try:
            return self._sep.extract(*args, **kwargs)
        finally:
            R.extract_ns += clock() - t0

    def kron_radius(self, *args, **kwargs):
        return self._sub(self._sep.kron_radius, args, kwargs)

    def sum_ellipse(self, *args, **kwargs):
        return self._sub(self._sep.sum_ellipse, args, kwargs)

    @staticmethod
    def _sub(fn, args, kwargs):
        t0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            R.sub_ns["sep_kron_sum"] += clock() - t0


def install():
    """Replace the library's stage functions in this process by timed ones."""
    objects._rng = _timed_rng(objects._rng)
    objects.draw_params = _timed_draw(objects.draw_params)
    objects.render_scene = _timed_render(objects.render_scene)
    objects.measure = _timed_measure(objects.measure)
    objects.passes_cuts = _timed_passes(objects.passes_cuts)
    objects._cutout = _timed_cutout(objects._cutout)
    survey._simulate_batch = _timed_batch(survey._simulate_batch)
    survey._to_frame = _timed_plain("frame", survey._to_frame)
    store.StoreWriter.write_chunk = _timed_plain("store_writes", store.StoreWriter.write_chunk)
    store.StoreWriter.finalize = _timed_plain("finalize", store.StoreWriter.finalize)
    photometry.sep = _TimedSep(photometry.sep)
    for subs in SUBSTAGES.values():
        for name, where in subs.items():
            if where is not None:
                module, fn = where
                setattr(module, fn, _timed_plain(name, getattr(module, fn), sub=True))


def _run(n, seed, classes):
    with tempfile.TemporaryDirectory() as tmp:
        t0 = clock()
        st = simulate.simulate_survey(f"{tmp}/s", n_per_class=n, seed=seed, workers=1,
                                      classes=classes, progress=False)
        cpu = clock() - t0
        return cpu, st.attrs.get("content_sha256"), len(st)


def _per_class(classes):
    """Attempts per object and CPU on rejected and kept attempts, per class (ns)."""
    out = {}
    for c in classes:
        objs = [a for (cls, _), a in R.attempts.items() if cls == c]
        if not objs:
            continue
        rejected = sum(sum(att.values()) for a in objs for att in a[:-1])
        kept = sum(sum(a[-1].values()) for a in objs)
        out[c] = {"objects": len(objs), "attempts": sum(len(a) for a in objs),
                  "rejected_ns": rejected, "kept_attempt_ns": kept,
                  "render_extract_ns": sum(att["render"] + att["sep_extract"]
                                           for a in objs for att in a)}
    return out


def main():
    n, seed, classes = int(sys.argv[1]), int(sys.argv[2]), tuple(sys.argv[3].split(","))
    # warm caches (catalogs, GalSim tables, the store's and Parquet's imports), not timed
    _run(4, 99, classes)
    plain_ns, plain_hash, count = _run(n, seed, classes)
    install()
    _run(2, 98, classes)                                       # the wrappers warm too
    R.__init__()
    total_ns, hash_, count2 = _run(n, seed, classes)
    timed = sum(R.ns[s] for s in STAGES if s != "outside_other")
    R.ns["outside_other"] = total_ns - timed
    print(json.dumps({"objects": count, "classes": list(classes), "seed": seed,
                      "plain_cpu_ns": plain_ns, "timed_cpu_ns": total_ns,
                      "same_output": plain_hash == hash_ and count == count2,
                      "stage_ns": {s: R.ns[s] for s in STAGES}, "batch_ns": R.ns["batch"],
                      "sub_ns": dict(R.sub_ns), "calls": dict(R.calls),
                      "per_class": _per_class(classes),
                      "version": simulate.GENERATOR_VERSION}))


if __name__ == "__main__":
    main()
