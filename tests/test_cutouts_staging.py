"""Tests of deepshadows_lib.cutouts.staging: records that survive a kill."""

import numpy as np

from deepshadows_lib import cutouts


def test_staging_skips_records_torn_or_corrupted_by_a_kill(tmp_path):
    staging = cutouts.Staging(tmp_path / "staging")
    rng = np.random.default_rng(10)
    images = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    locs = [staging.add_ok(u, images[u]) for u in range(4)]
    staging.add_failed(7, "timeout", "slow", "http://x")
    staging.close()
    path = locs[0][0]
    data = bytearray(path.read_bytes())
    data[locs[1][1] + 100] ^= 0xFF  # record 1 corrupted
    path.write_bytes(bytes(data[:locs[3][1] + 5000]))  # record 3 torn mid-image
    failed = next((tmp_path / "staging").glob("failed-*.jsonl"))
    failed.write_bytes(failed.read_bytes() + b'{"u": 8, "reas')  # a torn line
    ok, bad = cutouts.Staging(tmp_path / "staging").scan()
    assert sorted(ok) == [0, 2] and bad == {7: "timeout"}
    reader = cutouts.Staging(tmp_path / "staging")
    for u in (0, 2):
        np.testing.assert_array_equal(reader.read(ok[u]), images[u])
    reader.close()
