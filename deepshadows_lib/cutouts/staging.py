"""Staging of fetched cutouts: fixed-size, checksummed records that survive a kill.

Fetched cutouts are staged as fixed-size records (position index, CRC-32, 64 x 64 x 3
bytes), each written with one ``write`` to an append-only file of its worker thread;
failures as JSON lines.  A record cut short by a kill fails its length or CRC check and
is ignored, so a staged object counts only once it is entirely on disk.  (One file per
object would be simpler, but creating and deleting 60,000 small files costs minutes on
common file systems.)
"""

import json
import os
import shutil
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from .decode import SIZE

__all__ = ["Staging"]

_RECORD = struct.Struct("<qI")  # position index, CRC-32 of the image bytes
_IMAGE_BYTES = SIZE * SIZE * 3


class Staging:
    """Fetched cutouts and failures of a download, appended by worker threads.

    Every thread of every run appends to files of its own (``ok-RUN-THREAD.bin``,
    ``failed-RUN-THREAD.jsonl``), so no two writers share a file and a torn record can
    only be the last one of a file, which :meth:`scan` skips.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.run = f"{os.getpid()}-{time.time_ns()}"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._files = []
        self._readers = {}

    def _file(self, kind, suffix):
        fh = getattr(self._local, kind, None)
        if fh is None:
            name = f"{kind}-{self.run}-{threading.get_ident()}{suffix}"
            fh = open(str(self.root / name), "xb", buffering=0)  # one write() per record
            setattr(self._local, kind, fh)
            with self._lock:
                self._files.append(fh)
        return fh

    def add_ok(self, u, image):
        """Stage the (64, 64, 3) uint8 cutout of position ``u``; return its location."""
        data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
        if len(data) != _IMAGE_BYTES:
            raise ValueError(f"cutout has {len(data)} bytes, expected {_IMAGE_BYTES}")
        fh = self._file("ok", ".bin")
        offset = fh.tell()
        fh.write(_RECORD.pack(int(u), zlib.crc32(data)) + data)
        return Path(fh.name), offset + _RECORD.size

    def add_failed(self, u, reason, detail="", url=""):
        """Record why position ``u`` failed."""
        line = json.dumps({"u": int(u), "reason": reason, "detail": detail, "url": url})
        self._file("failed", ".jsonl").write((line + "\n").encode())

    def scan(self):
        """Return ``ok`` ({u: (file, offset)}) and ``failed`` ({u: reason}) on disk."""
        ok, failed = {}, {}
        step = _RECORD.size + _IMAGE_BYTES
        for path in sorted(self.root.glob("ok-*.bin")):
            with open(path, "rb") as fh:
                offset = 0
                while True:  # bounded by the file's length
                    rec = fh.read(step)
                    if len(rec) < step:
                        break  # end of file, or a record torn by a kill
                    u, crc = _RECORD.unpack_from(rec)
                    if zlib.crc32(rec[_RECORD.size:]) == crc:
                        ok[u] = (path, offset + _RECORD.size)
                    offset += step
        for path in sorted(self.root.glob("failed-*.jsonl")):
            for line in path.read_bytes().splitlines():
                try:
                    rec = json.loads(line)
                    failed[int(rec["u"])] = str(rec["reason"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a kill
        return ok, failed

    def read(self, loc):
        """The staged cutout at ``loc`` (from :meth:`scan` or :meth:`add_ok`)."""
        path, offset = loc
        fh = self._readers.get(path)
        if fh is None:
            fh = self._readers[path] = open(path, "rb")
        fh.seek(offset)
        return np.frombuffer(fh.read(_IMAGE_BYTES), np.uint8).reshape(SIZE, SIZE, 3)

    def close(self):
        with self._lock:
            for fh in self._files + list(self._readers.values()):
                fh.close()
            self._files.clear()
            self._readers.clear()

    def remove(self):
        self.close()
        shutil.rmtree(self.root, ignore_errors=True)

