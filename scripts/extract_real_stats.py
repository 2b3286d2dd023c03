"""Per-image statistics of the 36 real DES cutouts of the paper's Fig. 6.

    python scripts/extract_real_stats.py PATH/TO/Grad_CAM.png [--out Datasets/real_cutout_stats.csv]

The figure is in the paper's public repository (``Images/Grad_CAM.png``) and in
``../shared/reference/original_figures/``.  The cutouts are cut out of it, resampled
to 64x64 (:func:`deepshadows_lib.realism.extract_figure_cutouts`) and measured
(:func:`deepshadows_lib.realism.image_statistics`); only the numbers are written: the
figure carries no licence that would let the project ship its pixels.  The output is
written atomically; the figure's SHA-256 goes into the header so that a different
figure shows.
"""

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deepshadows_lib import realism  # noqa: E402
from deepshadows_lib._io import atomic_write_text  # noqa: E402
from deepshadows_lib.errors import InputError  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figure", help="the paper's Fig. 6 (Grad_CAM.png)")
    ap.add_argument("--out", default=str(realism.REAL_STATS_FILE),
                    help="CSV of per-image statistics (default: %(default)s)")
    args = ap.parse_args(argv)
    try:
        images, meta = realism.extract_figure_cutouts(args.figure)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stats = realism.image_statistics(images)
    table = meta.join(stats)
    digest = hashlib.sha256(Path(args.figure).read_bytes()).hexdigest()
    header = (f"# statistics of the 36 real DES cutouts of Tanoglidis et al. (2021) Fig. 6, "
              f"measured by deepshadows_lib.realism; figure sha256 {digest}\n")
    atomic_write_text(args.out, header + table.to_csv(index=False, float_format=f"%.{realism.DECIMALS}f"))
    print(f"wrote {len(table)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
