"""The interpreter tuned for a long-running server process (`threadline serve`, `threadline
worker`): how often threads hand over the GIL, and how the cyclic garbage collector runs.

`tune()` is called before the process builds anything; `settle()` once it has started up
(imports done, store opened, engine running), freezing what it built out of every later
collection. Tests that build the app in-process leave the interpreter as it is.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["GC_THRESHOLDS", "SWITCH_INTERVAL_SECONDS", "settle", "tune"]

# How long a thread that wants the GIL waits for its holder to let go (Python's default is
# 5 ms). The database threads hand every store call back to the event loop: with the
# default, under load each hand-over could wait that long; 0.2 ms measured ~20 % more runs
# per second at concurrency 64 than 1 ms (docs/performance.md).
SWITCH_INTERVAL_SECONDS = 0.0002

# The collector's generation thresholds (Python's default is 700, 10, 10). At 700 a
# server collects its youngest generation several times per request: objects still in use
# by requests in flight survive, are promoted, and in time every ~2 s force a full
# collection over the whole heap (~200,000 objects, 0.2 s of CPU on this project's 2-core
# machine). Measured at concurrency 64: a sixth of the server's CPU went to the collector;
# at 10,000 (with `settle`) a hundredth (docs/performance.md).
GC_THRESHOLDS = (10_000, 10, 10)


def tune() -> None:
    """Set the GIL switch interval and the collector's thresholds for this process."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    gc.set_threshold(*GC_THRESHOLDS)


def settle() -> None:
    """Collect once, then move every object alive now (modules, classes, the app and its
    engine) to the collector's permanent generation: no later collection walks them."""
    gc.collect()
    gc.freeze()
