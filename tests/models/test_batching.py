"""Token-budget batching."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biocoreset_viz.models import token_budget_batches


@settings(max_examples=80, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 300), min_size=0, max_size=60),
    max_tokens=st.integers(1, 1200),
    max_batch_size=st.one_of(st.none(), st.integers(1, 10)),
)
def test_token_budget_batches_cover_every_index_once_within_budget(
    lengths, max_tokens, max_batch_size
):
    batches = token_budget_batches(lengths, max_tokens, max_batch_size=max_batch_size)
    flat = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for batch in batches:
        padded = len(batch) * (max(lengths[i] for i in batch) + 2)
        assert padded <= max_tokens or len(batch) == 1
        if max_batch_size is not None:
            assert len(batch) <= max_batch_size
    # shortest first: lengths never decrease along the concatenated order
    assert all(lengths[a] <= lengths[b] for a, b in zip(flat, flat[1:], strict=False))


def test_token_budget_batches_rejects_a_zero_budget():
    with pytest.raises(ValueError, match="max_tokens must be >= 1, got 0"):
        token_budget_batches([3, 4], 0)
