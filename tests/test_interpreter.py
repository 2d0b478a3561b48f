"""The interpreter tuning of `threadline serve` and `threadline worker`."""

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from threadline import interpreter


@pytest.fixture
def restored() -> Iterator[None]:
    """This test process's interpreter settings, as they were before the test; no automatic
    collection meanwhile."""
    thresholds, switch = gc.get_threshold(), sys.getswitchinterval()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(switch)


def test_tune_sets_the_collector_thresholds_and_the_switch_interval(restored: None) -> None:
    interpreter.tune()
    assert gc.get_threshold() == interpreter.GC_THRESHOLDS
    assert gc.get_threshold()[0] > 700  # fewer collections than Python's default
    assert sys.getswitchinterval() == pytest.approx(interpreter.SWITCH_INTERVAL_SECONDS)


def test_settle_collects_garbage_then_freezes_what_is_alive(restored: None) -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    garbage = weakref.ref(Node())  # a cycle: garbage only the collector frees
    alive = Node()
    assert garbage() is not None
    interpreter.settle()
    assert garbage() is None
    assert gc.get_freeze_count() > 0
    # what is alive is out of the collector's generations, and still alive
    assert all(o is not alive for o in gc.get_objects())
    assert alive.me is alive
