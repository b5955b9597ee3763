"""Sampling profiler for the Python side of Spark starts, for `scripts/bench-sessions --py-profile`.

Python imports `sitecustomize` at start-up when it is on PYTHONPATH; the bench puts this
directory there (for the server, so for every session driver, and for the bare spark-submit
runs) only with --py-profile. When LIVY_BENCH_PY_SAMPLES names a directory and the process runs
a script (the session driver or the bare script, not pyspark's worker daemons), a daemon thread
writes the main thread's stack every 5 ms to <dir>/prof-<pid>.txt:

    START <time_ns> <argv...>
    <time_ns> <file:function:line> > <file:function:line> > ...      (outermost first)

Nothing else changes in the process; the thread costs about 1 % of a core or less.
"""

import os
import sys
import threading
import time

_DIR = os.environ.get("LIVY_BENCH_PY_SAMPLES")
if _DIR and len(sys.argv) > 0 and sys.argv[0].endswith(".py") and "daemon" not in sys.argv[0]:
    _MAIN = threading.main_thread().ident
    _OUT = open(os.path.join(_DIR, "prof-%d.txt" % os.getpid()), "w", buffering=1)
    _OUT.write("START %d %s\n" % (time.time_ns(), " ".join(sys.argv)))

    def _sample():
        while True:
            time.sleep(0.005)
            frame = sys._current_frames().get(_MAIN)
            stack = []
            while frame is not None:
                code = frame.f_code
                stack.append("%s:%s:%d" % (os.path.basename(code.co_filename), code.co_name, frame.f_lineno))
                frame = frame.f_back
            stack.reverse()
            try:
                _OUT.write("%d %s\n" % (time.time_ns(), " > ".join(stack[:16])))
            except ValueError:
                return

    threading.Thread(target=_sample, daemon=True, name="livy-bench-sampler").start()
