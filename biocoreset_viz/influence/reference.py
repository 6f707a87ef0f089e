"""The brute-force reference: design §2 by its formulas, one sequence at a time.

The model's own forward on each sequence alone (``family.own_logits``: fair-esm's
``model(tokens)["logits"]``, a Hugging Face model's ``model(input_ids, attention_mask)``,
...), the loss written out directly and plain ``torch.autograd.grad``: slow,
independent of the engine's batching, closed forms, branch-free adapter forward and
packing, and what the engine is checked against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from biocoreset_viz.influence.config import InfluenceConfig, ScoreSettings, as_score_settings
from biocoreset_viz.influence.fisher import fisher_subset_indices
from biocoreset_viz.influence.losses import mlm_mask_draws, pad_to_window
from biocoreset_viz.influence.plan import effective_max_length, model_alphabet
from biocoreset_viz.influence.targets import resolve_targets
from biocoreset_viz.models import encode_batch, family_of
from biocoreset_viz.sequences import SequenceSet


def brute_force_gradients(
    model: nn.Module,
    sequences: SequenceSet | Sequence[str],
    config: InfluenceConfig | ScoreSettings | None = None,
    *,
    alphabet=None,
) -> torch.Tensor:
    """Every sequence's per-sample gradient, one sequence at a time, with plain autograd.

    The reference the engine is checked against: the model's own forward
    (``family.own_logits``; fair-esm's ``model(tokens)["logits"]``) on each sequence
    alone (no batching, no padding unless ``config.reference_padding``), the loss of
    ``config.loss`` written out directly, and ``torch.autograd.grad``. Slow (one
    backward pass per sequence): for small models and a few dozen sequences.

    Args:
        model: the model (use a float64 model for a comparison at 1e-6 or better).
        sequences: a SequenceSet or plain strings (ids ``seq1``, ``seq2`` ... then;
            they seed the MLM masks).
        config: loss, reduction, target, MLM draws, seed, max_length: an :class:`InfluenceConfig` or
            :class:`ScoreSettings` (default ``ScoreSettings()``).
        alphabet: defaults to ``model.alphabet``.

    Returns:
        ``(N, P)`` gradients in the model's dtype: the target parameters of
        :func:`resolve_targets`, each flattened, concatenated in model order.
    """
    settings = as_score_settings(config)
    alphabet = model_alphabet(model, alphabet)
    if not isinstance(sequences, SequenceSet):
        sequences = SequenceSet.from_sequences(list(sequences), validate=False)
    family = family_of(model, alphabet)
    parameters = dict(model.named_parameters(remove_duplicate=False))
    names = resolve_targets(model, settings.target, family)
    max_length = effective_max_length(model, settings, family)
    model.eval()
    reduce = torch.mean if settings.reduction == "mean" else torch.sum
    rows = []
    for sequence_id, sequence in zip(sequences.ids, sequences.sequences, strict=True):
        tokens = encode_batch(alphabet, [sequence], max_length=max_length)  # (1, T)
        if settings.reference_padding:
            tokens = pad_to_window(tokens, settings.reference_window, alphabet.padding_idx)
        if settings.loss == "mlm":
            inputs, selected = mlm_mask_draws(
                tokens,
                [sequence_id],
                alphabet,
                draws=settings.mlm_draws,
                mask_prob=settings.mask_prob,
                seed=settings.seed,
            )
            loss = 0.0
            for draw in range(settings.mlm_draws):
                logits = family.own_logits(inputs[:, draw])[0]  # (T, V)
                ce = F.cross_entropy(logits, tokens[0], reduction="none")
                loss = loss + reduce(ce[selected[0, draw]]) / settings.mlm_draws
        else:
            logits = family.own_logits(tokens)[0]  # (T, V)
            ce = F.cross_entropy(logits, tokens[0], reduction="none")
            counted = torch.ones_like(ce, dtype=torch.bool)
            if not settings.reference_padding:
                counted = tokens[0].ne(alphabet.padding_idx)
            loss = reduce(ce[counted])
        grads = torch.autograd.grad(loss, [parameters[n] for n in names])
        rows.append(torch.cat([g.detach().reshape(-1) for g in grads]))
    return torch.stack(rows)


def brute_force_self_influence(
    model: nn.Module,
    sequences: SequenceSet | Sequence[str],
    config: InfluenceConfig | ScoreSettings | None = None,
    *,
    alphabet=None,
    subset: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Design §2 by its formulas, on :func:`brute_force_gradients`: ``(F, s)`` in float64.

    ``F = mean_{m in S} g_m * g_m`` over the subset S and ``s_i = sum_j g_ij^2 /
    (F_j + lambda)``, lambda from ``config.damping`` and ``config.damping_mode``.

    Args:
        model, sequences, config, alphabet: as :func:`brute_force_gradients`.
        subset: indices of S (default: :func:`fisher_subset_indices` with the
            config's ``fisher_subset`` and ``seed``, as :func:`fit_fisher` draws it).

    Returns:
        ``(F, s)``: the ``(P,)`` diagonal Fisher and the ``(N,)`` self-influence.
    """
    settings = as_score_settings(config)
    gradients = brute_force_gradients(model, sequences, settings, alphabet=alphabet).double()
    if subset is None:
        subset = fisher_subset_indices(len(gradients), settings.fisher_subset, settings.seed)
    fisher = gradients[torch.as_tensor(np.asarray(subset, dtype=np.int64))].square().mean(0)
    damping = settings.damping
    if settings.damping_mode == "relative":
        damping = settings.damping * float(fisher.mean())
    return fisher, (gradients.square() / (fisher + damping)).sum(1)
