"""Masked-language-model training: pretraining from scratch and short fine-tuning.

Masking follows BERT: 15% of the residue positions of each sequence are selected
(at least one per sequence); of those, 80% become ``<mask>``, 10% a random residue
(one of the molecule's standard letters) and 10% stay unchanged. BOS, EOS and
padding are never selected. The loss is the cross-entropy of the model's logits at
the selected positions against the original tokens, averaged over those positions.

Everything random (masks, the order of batches) comes from generators seeded by the
caller, so a run is reproducible on CPU.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import esm
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.models import (
    ModelFamily,
    alphabet_molecule,
    encode_batch,
    family_of,
    token_budget_batches,
)
from biocoreset_viz.sequences import PROTEIN_STANDARD, RNA_STANDARD, SequenceSet

IGNORE_INDEX = -100
DEFAULT_MAX_LENGTH = 1022  # residues; with BOS and EOS, the 1024 tokens ESM models are trained on

CheckpointCallback = Callable[[int, nn.Module, list[dict]], None]


@dataclass(frozen=True)
class MaskingConfig:
    """BERT-style masking probabilities.

    Attributes:
        mask_prob: share of residue positions selected for prediction.
        mask_token_prob: share of selected positions replaced by ``<mask>``.
        random_token_prob: share of selected positions replaced by a random residue;
            the rest keep their token.
    """

    mask_prob: float = 0.15
    mask_token_prob: float = 0.8
    random_token_prob: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.mask_prob <= 1:
            raise ConfigError(f"mask_prob must be in (0, 1], got {self.mask_prob}")
        if (
            self.mask_token_prob < 0
            or self.random_token_prob < 0
            or self.mask_token_prob + self.random_token_prob > 1
        ):
            raise ConfigError(
                "mask_token_prob and random_token_prob must be >= 0 and sum to at most 1, "
                f"got {self.mask_token_prob} and {self.random_token_prob}"
            )


BERT_MASKING = MaskingConfig()
# for evaluation: every selected position is hidden, so no target token is visible
EVAL_MASKING = MaskingConfig(mask_token_prob=1.0, random_token_prob=0.0)


def residue_token_ids(alphabet: esm.data.Alphabet) -> torch.Tensor:
    """Token ids of the molecule's standard residues (random replacements come from these)."""
    letters = RNA_STANDARD if alphabet_molecule(alphabet) == "rna" else PROTEIN_STANDARD
    known = set(alphabet.standard_toks)  # a model's vocabulary may lack a rare letter
    ids = [alphabet.get_idx(letter) for letter in letters if letter in known]
    return torch.tensor(ids, dtype=torch.long)


def maskable_positions(tokens: torch.Tensor, alphabet: esm.data.Alphabet) -> torch.Tensor:
    """``(B, T)`` bool: positions holding a residue (not BOS, EOS or padding)."""
    special = torch.tensor([alphabet.cls_idx, alphabet.eos_idx, alphabet.padding_idx])
    return ~torch.isin(tokens, special.to(tokens.device))


def mask_tokens(
    tokens: torch.Tensor,
    alphabet: esm.data.Alphabet,
    generator: torch.Generator,
    masking: MaskingConfig = BERT_MASKING,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply BERT-style masking to a batch of tokens.

    Args:
        tokens: ``(B, T)`` int64 CPU tokens from :func:`~biocoreset_viz.models.encode_batch`.
        alphabet: their alphabet.
        generator: a seeded CPU generator; the masks depend only on it and ``tokens``.
        masking: the probabilities.

    Returns:
        ``(masked_tokens, targets)``, both ``(B, T)``: the input with selected positions
        replaced, and the original tokens at selected positions with
        ``IGNORE_INDEX`` elsewhere. Every row with a residue has at least one target.
    """
    eligible = maskable_positions(tokens, alphabet)  # (B, T)
    draws = torch.rand(tokens.shape, generator=generator)  # (B, T)
    selected = eligible & (draws < masking.mask_prob)
    # rows where chance selected nothing get their eligible position with the smallest draw
    empty = eligible.any(dim=1) & ~selected.any(dim=1)  # (B,)
    if empty.any():
        fallback = draws.masked_fill(~eligible, 2.0).argmin(dim=1)  # (B,)
        rows = empty.nonzero().squeeze(1)
        selected[rows, fallback[rows]] = True
    action = torch.rand(tokens.shape, generator=generator)  # (B, T)
    to_mask = selected & (action < masking.mask_token_prob)
    to_random = (
        selected
        & (action >= masking.mask_token_prob)
        & (action < masking.mask_token_prob + masking.random_token_prob)
    )
    residues = residue_token_ids(alphabet)
    random_tokens = residues[torch.randint(len(residues), tokens.shape, generator=generator)]
    masked = tokens.clone()
    masked[to_mask] = alphabet.mask_idx
    masked[to_random] = random_tokens[to_random]
    targets = torch.where(selected, tokens, torch.full_like(tokens, IGNORE_INDEX))
    return masked, targets


def _as_strings(sequences: SequenceSet | Sequence[str]) -> list[str]:
    if isinstance(sequences, SequenceSet):
        return list(sequences.sequences)
    if isinstance(sequences, str):
        raise TypeError("sequences must be a list of strings or a SequenceSet, not one string")
    return list(sequences)


def _masked_lm_loss(
    family: ModelFamily, masked: torch.Tensor, targets: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    logits = family.own_logits(masked)  # (B, T, V), the model's own forward (dropout in training)
    return F.cross_entropy(
        logits.flatten(0, 1).float(),
        targets.flatten(),
        ignore_index=IGNORE_INDEX,
        reduction=reduction,
    )


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def mlm_loss(
    model: nn.Module,
    alphabet: esm.data.Alphabet,
    sequences: SequenceSet | Sequence[str],
    *,
    seed: int = 0,
    max_tokens: int = 16384,
    max_length: int | None = DEFAULT_MAX_LENGTH,
    masking: MaskingConfig = EVAL_MASKING,
    device: str | torch.device | None = None,
) -> float:
    """Mean masked-token cross-entropy (nats) of a model on sequences.

    The masks depend only on ``seed`` and the sequences (drawn one sequence at a time
    in input order), not on batching, so two models or two checkpoints are compared
    on exactly the same masked positions. By default every selected position is
    replaced by ``<mask>`` (``EVAL_MASKING``), so the loss measures prediction from
    context alone and is directly comparable with :func:`unigram_cross_entropy`.

    Args:
        model: a model of any family (see :mod:`biocoreset_viz.models.family`).
        alphabet: its alphabet.
        sequences: the evaluation sequences.
        seed: seeds the masks.
        max_tokens: token budget per batch.
        max_length: residues kept per sequence (longer ones are truncated).
        masking: masking probabilities.
        device: where to run; default the model's device.

    Returns:
        The loss averaged over all masked positions of all sequences.
    """
    strings = _as_strings(sequences)
    if not strings:
        raise ConfigError("no sequences to evaluate")
    family = family_of(model, alphabet)
    device = torch.device(device) if device is not None else _model_device(model)
    generator = torch.Generator().manual_seed(seed)
    rows = [
        mask_tokens(encode_batch(alphabet, [s], max_length), alphabet, generator, masking)
        for s in strings
    ]
    widths = [row[0].shape[1] for row in rows]
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for batch in token_budget_batches(widths, max_tokens, extra_tokens=0):
            width = max(rows[i][0].shape[1] for i in batch)
            masked = torch.full((len(batch), width), alphabet.padding_idx)  # (B, T)
            targets = torch.full((len(batch), width), IGNORE_INDEX)  # (B, T)
            for position, index in enumerate(batch):
                row_tokens, row_targets = rows[index]
                masked[position, : row_tokens.shape[1]] = row_tokens[0]
                targets[position, : row_targets.shape[1]] = row_targets[0]
            loss = _masked_lm_loss(family, masked.to(device), targets.to(device), "sum")
            total += float(loss)
            count += int((targets != IGNORE_INDEX).sum())
    finally:
        model.train(was_training)
    return total / count


def unigram_cross_entropy(
    train_sequences: SequenceSet | Sequence[str],
    eval_sequences: SequenceSet | Sequence[str],
) -> float:
    """Cross-entropy (nats) of evaluation residues under the training residue frequencies.

    The loss of a model that ignores context and predicts every masked residue from
    the training composition: the baseline a language model must beat. Residues
    absent from training get add-one smoothing so the result stays finite.
    """
    train_counts = Counter("".join(_as_strings(train_sequences)))
    eval_counts = Counter("".join(_as_strings(eval_sequences)))
    if not eval_counts:
        raise ConfigError("no evaluation residues")
    vocabulary = set(train_counts) | set(eval_counts)
    total = sum(train_counts.values()) + len(vocabulary)
    log_likelihood = sum(
        count * math.log((train_counts[letter] + 1) / total)
        for letter, count in eval_counts.items()
    )
    return -log_likelihood / sum(eval_counts.values())


def _lr_factor(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to ``min_lr_ratio`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    warmup_steps: int | float,
    total_steps: int,
    min_lr_ratio: float,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (no weight decay on biases and layer norms) with warmup and cosine decay."""
    warmup = int(round(warmup_steps * total_steps)) if warmup_steps < 1 else int(warmup_steps)
    warmup = max(1, min(warmup, total_steps))
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "layer_norm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        betas=betas,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, warmup, total_steps, min_lr_ratio)
    )
    return optimizer, scheduler


def _check_training(
    strings: list[str],
    epochs: int | None,
    max_steps: int | None,
    crop: str,
    checkpoint_every: int | None,
    on_checkpoint: CheckpointCallback | None,
) -> None:
    """Refuse the arguments :func:`train_mlm` cannot train with."""
    if not strings:
        raise ConfigError("no sequences to train on")
    if epochs is None and max_steps is None:
        raise ConfigError("give epochs, max_steps or both")
    if (epochs is not None and epochs < 1) or (max_steps is not None and max_steps < 1):
        raise ConfigError(f"epochs and max_steps must be >= 1, got {epochs} and {max_steps}")
    if crop not in ("start", "random"):
        raise ConfigError(f"crop must be 'start' or 'random', got {crop!r}")
    if on_checkpoint is not None and checkpoint_every is None:
        raise ConfigError("on_checkpoint needs checkpoint_every")


def _total_steps(steps_per_epoch: int, epochs: int | None, max_steps: int | None) -> int:
    """Optimiser steps of a run: whichever of ``epochs`` and ``max_steps`` ends it first."""
    return int(
        min(
            max_steps if max_steps is not None else math.inf,
            steps_per_epoch * epochs if epochs is not None else math.inf,
        )
    )


class _TrainingBatches:
    """The batches of every epoch and their tokens: length-sorted token-budget batches,
    reshuffled each epoch, with random windows of long sequences (``crop="random"``).

    One generator seeded by ``seed`` draws the batch order and the windows, in the
    order the training loop asks for them, so a run is reproducible.
    """

    def __init__(
        self,
        strings: list[str],
        alphabet: esm.data.Alphabet,
        max_tokens: int,
        max_length: int | None,
        crop: str,
        seed: int,
    ) -> None:
        self.strings = strings
        self.alphabet = alphabet
        self.max_tokens = max_tokens
        self.max_length = max_length
        self.crop = crop
        self.lengths = np.array(
            [len(s) if max_length is None else min(len(s), max_length) for s in strings]
        )
        self.extra_tokens = int(alphabet.prepend_bos) + int(alphabet.append_eos)
        self.shuffler = np.random.default_rng(seed)

    def epoch_batches(self) -> list[np.ndarray]:
        """One epoch's batches (sequence indices), in a random order."""
        # permuting first makes the length sort break ties at random, so batches differ
        permutation = self.shuffler.permutation(len(self.strings))
        budget = token_budget_batches(
            self.lengths[permutation], self.max_tokens, extra_tokens=self.extra_tokens
        )
        batches = [permutation[b] for b in budget]
        return [batches[i] for i in self.shuffler.permutation(len(batches))]

    def window(self, sequence: str) -> str:
        """The residues of a sequence that are trained on (a random window when cropping)."""
        max_length = self.max_length
        if self.crop == "start" or max_length is None or len(sequence) <= max_length:
            return sequence
        start = int(self.shuffler.integers(len(sequence) - max_length + 1))
        return sequence[start : start + max_length]

    def tokens(self, batch: np.ndarray) -> torch.Tensor:
        """``(B, T)`` tokens of a batch."""
        windows = [self.window(self.strings[i]) for i in batch]
        return encode_batch(self.alphabet, windows, self.max_length)


class _TrainingStep:
    """One optimiser step: mask a batch, the model's own forward in training mode, the
    masked-token loss, backward, clipping, AdamW and the learning-rate schedule."""

    def __init__(
        self,
        family: ModelFamily,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LambdaLR,
        masking: MaskingConfig,
        grad_clip: float | None,
        device: torch.device,
        seed: int,
    ) -> None:
        self.family = family
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.masking = masking
        self.grad_clip = grad_clip
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)  # the masks

    def __call__(self, tokens: torch.Tensor) -> tuple[float, float]:
        """Train on ``(B, T)`` tokens; returns the step's loss and learning rate."""
        model = self.family.model
        masked, targets = mask_tokens(tokens, self.family.alphabet, self.generator, self.masking)
        model.train()
        loss = _masked_lm_loss(self.family, masked.to(self.device), targets.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
        current_lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach()), current_lr


def train_mlm(
    model: nn.Module,
    alphabet: esm.data.Alphabet,
    sequences: SequenceSet | Sequence[str],
    *,
    epochs: int | None = 1,
    max_steps: int | None = None,
    max_tokens: int = 8192,
    max_length: int | None = DEFAULT_MAX_LENGTH,
    crop: Literal["start", "random"] = "start",
    lr: float = 4e-4,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.98),
    warmup_steps: int | float = 0.05,
    min_lr_ratio: float = 0.1,
    grad_clip: float | None = 1.0,
    masking: MaskingConfig = BERT_MASKING,
    seed: int = 0,
    device: str | torch.device | None = None,
    eval_sequences: SequenceSet | Sequence[str] | None = None,
    eval_every: int | None = None,
    eval_seed: int = 0,
    checkpoint_every: int | None = None,
    on_checkpoint: CheckpointCallback | None = None,
    progress: bool = True,
) -> list[dict]:
    """Train a model by masked language modelling, in place.

    Batches hold length-sorted sequences under a token budget; their composition
    (among equal lengths) and order are reshuffled every epoch. AdamW with linear
    warmup and cosine decay, gradient-norm clipping. Use it to pretrain a model
    from scratch (:func:`~biocoreset_viz.models.build_esm2`) or to fine-tune a
    loaded one for a few steps.

    Args:
        model: a model of any family (see :mod:`biocoreset_viz.models.family`); trained in
            place and left in eval mode.
        alphabet: its alphabet.
        sequences: training sequences.
        epochs: passes over the data; ``None`` to run until ``max_steps``.
        max_steps: stop after this many optimiser steps (whichever of the two limits
            comes first).
        max_tokens: token budget per batch, padding included.
        max_length: residues kept per sequence.
        crop: which ``max_length`` residues of a longer sequence to train on: the first
            (``"start"``) or a window drawn anew each time it is used (``"random"``, as
            ESM pretraining does).
        lr: peak learning rate.
        weight_decay: AdamW weight decay (not applied to biases and layer norms).
        betas: AdamW betas.
        warmup_steps: warmup length in steps, or a fraction of all steps if < 1.
        min_lr_ratio: final learning rate as a fraction of ``lr``.
        grad_clip: maximum global gradient norm, or ``None``.
        masking: masking probabilities.
        seed: seeds masks and batch order.
        device: where to train; default the model's device.
        eval_sequences: held-out sequences scored with :func:`mlm_loss` (seed
            ``eval_seed``) before training, every ``eval_every`` steps and at the end.
        eval_every: evaluation interval in steps (``None``: only before and after).
        eval_seed: seed of the evaluation masks (fixed, so evaluations compare).
        checkpoint_every: call ``on_checkpoint`` every this many steps and at the end.
        on_checkpoint: ``on_checkpoint(step, model, log)``, e.g. to save the model
            with :func:`~biocoreset_viz.models.save_model`; the model is in eval mode
            during the call.
        progress: show a progress bar with the running loss.

    Returns:
        The log: one dict per optimiser step with ``step``, ``epoch`` (1-based),
        ``tokens_seen`` (non-padding tokens trained on so far), ``loss`` (the step's
        masked-token loss) and ``lr``; steps with an evaluation also carry
        ``eval_loss``. With ``eval_sequences``, a first row with ``step`` 0 holds the
        evaluation before training (its ``loss`` is NaN).
    """
    strings = _as_strings(sequences)
    _check_training(strings, epochs, max_steps, crop, checkpoint_every, on_checkpoint)
    device = torch.device(device) if device is not None else _model_device(model)
    model.to(device)
    data = _TrainingBatches(strings, alphabet, max_tokens, max_length, crop, seed)
    batches = data.epoch_batches()
    total_steps = _total_steps(len(batches), epochs, max_steps)
    optimizer, scheduler = _optimizer(
        model, lr, weight_decay, betas, warmup_steps, total_steps, min_lr_ratio
    )
    step_of = _TrainingStep(
        family_of(model, alphabet), optimizer, scheduler, masking, grad_clip, device, seed
    )

    def evaluate() -> float:
        return mlm_loss(
            model, alphabet, eval_sequences, seed=eval_seed, max_length=max_length, device=device
        )

    log: list[dict] = []
    if eval_sequences is not None:
        log.append(
            {"step": 0, "epoch": 0, "tokens_seen": 0, "loss": math.nan, "lr": 0.0,
             "eval_loss": evaluate()}
        )  # fmt: skip
    schedule = _Schedule(
        total_steps,
        evaluation=eval_sequences is not None,
        eval_every=eval_every,
        checkpoint_every=checkpoint_every if on_checkpoint is not None else None,
    )
    try:
        _train_epochs(data, batches, step_of, schedule, log, evaluate, on_checkpoint, progress)
    finally:
        model.eval()
    return log


@dataclass(frozen=True)
class _Schedule:
    """When a run ends, evaluates (every ``eval_every`` steps and at the last) and
    checkpoints (every ``checkpoint_every`` steps and at the last; ``None``: never)."""

    total_steps: int
    evaluation: bool
    eval_every: int | None
    checkpoint_every: int | None

    def evaluates(self, step: int) -> bool:
        if not self.evaluation:
            return False
        last = step == self.total_steps
        return last or (self.eval_every is not None and step % self.eval_every == 0)

    def checkpoints(self, step: int) -> bool:
        if self.checkpoint_every is None:
            return False
        return step == self.total_steps or step % self.checkpoint_every == 0


def _train_epochs(
    data: _TrainingBatches,
    batches: list[np.ndarray],
    step_of: _TrainingStep,
    schedule: _Schedule,
    log: list[dict],
    evaluate: Callable[[], float],
    on_checkpoint: CheckpointCallback | None,
    progress: bool,
) -> None:
    """The loop of :func:`train_mlm`: epochs of steps until ``schedule.total_steps``,
    one log row per step (with the evaluations), checkpoints, a progress bar."""
    model, padding_idx = step_of.family.model, step_of.family.padding_idx
    step, epoch, tokens_seen = 0, 0, 0
    bar = tqdm(total=schedule.total_steps, desc="MLM training", unit="step", disable=not progress)
    try:
        while step < schedule.total_steps:
            epoch += 1
            if epoch > 1:
                batches = data.epoch_batches()
            for batch in batches:
                if step >= schedule.total_steps:
                    break
                tokens = data.tokens(batch)
                loss, current_lr = step_of(tokens)
                step += 1
                tokens_seen += int((tokens != padding_idx).sum())
                row = {
                    "step": step, "epoch": epoch, "tokens_seen": tokens_seen,
                    "loss": loss, "lr": current_lr,
                }  # fmt: skip
                model.eval()
                if schedule.evaluates(step):
                    row["eval_loss"] = evaluate()
                log.append(row)
                if schedule.checkpoints(step):
                    on_checkpoint(step, model, log)
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.3f}", epoch=epoch)
    finally:
        bar.close()
