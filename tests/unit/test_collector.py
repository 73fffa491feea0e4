"""The worker's collector tuning (services.runtime.worker): young objects collected less
often while a pipeline runs, and the collector as it was once an in-process pipeline stops."""

from __future__ import annotations

import gc
import weakref

from services.runtime.worker import GC_YOUNG_THRESHOLD, tuned_collector


class Node:
    """A weak-referenceable object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: object = None


def test_the_collector_is_tuned_in_the_block_and_restored_after_it() -> None:
    before = gc.get_threshold()
    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    with tuned_collector():
        assert gc.get_threshold()[0] == max(before[0], GC_YOUNG_THRESHOLD)
        assert gc.get_freeze_count() > 0  # what existed before the pipeline is frozen
        del a, b
        gc.collect()
        assert alive() is not None, "a cycle frozen at the start is left alone"
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None, "after the block the cycle is collected again"


def test_what_the_stream_makes_is_collected_as_usual() -> None:
    with tuned_collector():
        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        gc.collect()
        assert alive() is None
