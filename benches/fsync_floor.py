"""The physical floor of one durable recovery record on a file system: what the filesystem store
does for a new record (create a temp file, write, fdatasync, rename, fsync the directory), timed
by part, median of N; and what it does for a statement (append one frame to the session's log
and fdatasync it). Not a test; docs/BENCHMARKS.md ("Recovery") quotes it.

    python3 benches/fsync_floor.py DIR [N]
"""

import os
import statistics
import sys
import tempfile
import time


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else None
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    parts = {"create+write": [], "fdatasync": [], "rename": [], "dir fsync": [], "total": []}
    with tempfile.TemporaryDirectory(dir=root) as d:
        for i in range(n):
            t0 = time.perf_counter()
            tmp = os.path.join(d, ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, b"x" * 600)
            t1 = time.perf_counter()
            os.fdatasync(fd)
            t2 = time.perf_counter()
            os.close(fd)
            os.rename(tmp, os.path.join(d, str(i)))
            t3 = time.perf_counter()
            dfd = os.open(d, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
            t4 = time.perf_counter()
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                parts[k].append(v * 1000)
        appends = []
        fd = os.open(os.path.join(d, "statements.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 600)
            os.fdatasync(fd)
            appends.append((time.perf_counter() - t0) * 1000)
        os.close(fd)
    print(f"{n} new records in {root or tempfile.gettempdir()}: " + ", ".join(
        f"{k} {statistics.median(v):.3f} ms" for k, v in parts.items()))
    print(f"{n} appends to one log + fdatasync: {statistics.median(appends):.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
