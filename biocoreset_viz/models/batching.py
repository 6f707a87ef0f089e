"""Token-budget batching: group sequences into length-sorted batches under a token budget."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from biocoreset_viz.errors import ConfigError


def token_budget_batches(
    lengths: Sequence[int] | np.ndarray,
    max_tokens: int,
    *,
    extra_tokens: int = 2,
    max_batch_size: int | None = None,
) -> list[np.ndarray]:
    """Group sequence indices into length-sorted batches under a token budget.

    A batch's padded size, ``count * (longest + extra_tokens)``, stays within
    ``max_tokens``; a sequence longer than the budget forms a batch of its own.

    Args:
        lengths: residues per sequence, ``(N,)``.
        max_tokens: token budget per batch (padding included).
        extra_tokens: tokens added to every sequence (BOS and EOS).
        max_batch_size: optional cap on sequences per batch.

    Returns:
        Index arrays covering ``range(N)`` exactly once, shortest sequences first.
    """
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
    if max_batch_size is not None and max_batch_size < 1:
        raise ConfigError(f"max_batch_size must be >= 1, got {max_batch_size}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for position, index in enumerate(order):
        size = position - start + 1
        padded = size * (int(lengths[index]) + extra_tokens)
        too_many = max_batch_size is not None and size > max_batch_size
        if size > 1 and (padded > max_tokens or too_many):
            batches.append(order[start:position])
            start = position
    if start < len(order):
        batches.append(order[start:])
    return batches
