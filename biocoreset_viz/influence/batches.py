"""Batches of a shard: length-sorted token-budget batches, prefetched, with their gradients.

:func:`per_sample_batches` is the one loop the Fisher and the scores share: it cuts
the sequences at some pool positions into batches (:func:`plan_batches`), computes
each batch's per-sample gradients on the plan's device and releases freed host
memory as the tokens add up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from biocoreset_viz.influence.gradients import PerSampleResult, per_sample_gradients
from biocoreset_viz.influence.losses import LossBatch, make_loss_batch
from biocoreset_viz.influence.memory import FreedMemoryReleaser
from biocoreset_viz.models import token_budget_batches
from biocoreset_viz.sequences import SequenceSet

if TYPE_CHECKING:
    from biocoreset_viz.influence.plan import ScoringPlan

# Bytes of per-sample gradients held at once by the torch.func path.
_PER_SAMPLE_GRADIENT_BYTES = 1 << 30


def plan_batches(
    plan: ScoringPlan, model: nn.Module, sequences: SequenceSet, indices: np.ndarray
) -> Iterator[tuple[np.ndarray, LossBatch]]:
    """Length-sorted token-budget batches of the sequences at ``indices``."""
    settings = plan.settings
    kept = np.minimum(sequences.lengths[indices], plan.max_length)
    if settings.reference_padding:
        kept = np.full_like(kept, settings.reference_window - 2)
    max_batch = None
    if not plan.closed_form:
        parameters = dict(model.named_parameters())
        count = sum(parameters[n].numel() for n in plan.targets)
        per_sample = count * torch.finfo(plan.dtype).bits // 8
        max_batch = max(1, _PER_SAMPLE_GRADIENT_BYTES // per_sample)
    # MLM feeds m masked copies of every sequence: the budget counts them all.
    draws = settings.mlm_draws if settings.loss == "mlm" else 1
    budget = max(1, plan.runtime.max_tokens // draws)
    for group in token_budget_batches(kept, budget, max_batch_size=max_batch):
        chosen = indices[group]
        batch = make_loss_batch(
            plan.alphabet,
            [sequences.sequences[i] for i in chosen],
            [sequences.ids[i] for i in chosen],
            settings,
            plan.max_length,
            packing=plan.runtime.packing,
        )
        yield chosen, batch


def per_sample_batches(
    plan: ScoringPlan,
    model: nn.Module,
    sequences: SequenceSet,
    indices: np.ndarray,
    *,
    overlap: bool = False,
) -> Iterator[tuple[np.ndarray, PerSampleResult]]:
    """``(pool positions, per-sample result)`` of every batch of the sequences at ``indices``.

    ``overlap`` tokenises the next batches in a background thread while a GPU
    computes (nothing changes on the CPU). The model must be prepared for the plan.
    """
    releaser = FreedMemoryReleaser(plan.device)
    family = plan.model_family(model)
    batches = plan_batches(plan, model, sequences, indices)
    for chosen, batch in prefetch(batches, enabled=overlap and plan.device.type == "cuda"):
        result = per_sample_gradients(
            model, batch.to(plan.device, plan.dtype), plan.targets, plan.forward_options, family
        )
        releaser.count(batch.inputs.numel())
        yield chosen, result


def prefetch(items: Iterator[Any], *, enabled: bool, depth: int = 2) -> Iterator[Any]:
    """Yield ``items``, producing the next ones in a background thread when ``enabled``.

    On a GPU the tokenisation of the next batch (host work) then overlaps the
    device's work on the current one. Order and values are unchanged.
    """
    if not enabled:
        yield from items
        return
    import queue
    import threading

    finished = object()
    pending: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                pending.put(item)
            pending.put(finished)
        except BaseException as error:  # handed to the consumer, raised there
            pending.put(error)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item = pending.get()
            if item is finished:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                pending.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.01)
