"""Batches: the background prefetch keeps their order and hands on the producer's error."""

from __future__ import annotations

import pytest

from biocoreset_viz.influence import prefetch


def test_prefetch_keeps_order_and_raises_the_producers_error():
    assert list(prefetch(iter(range(50)), enabled=True)) == list(range(50))

    def failing():
        yield 1
        raise KeyError("broken batch")

    with pytest.raises(KeyError, match="broken batch"):
        list(prefetch(failing(), enabled=True))
    early = prefetch(iter(range(1000)), enabled=True, depth=1)
    assert next(early) == 0
    early.close()  # returns: the producer thread is released, not left blocked
