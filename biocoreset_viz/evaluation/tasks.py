"""The downstream tasks a checkpoint is scored on: masked-LM perplexity and frozen-embedding probes.

Each task holds its (leakage-free) data and has ``evaluate(model, alphabet)``,
which returns ``(task, metric, value)`` rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from biocoreset_viz.evaluation.probes import (
    DEFAULT_MIN_SEPARATION,
    SequenceFeatures,
    StructureExample,
    StructureProbe,
    classification_probe,
    embed_sequences,
    structure_example,
)

# One row of a task's result: (task, metric, value).
MetricRow = tuple[str, str, float]
# smallest j - i of the contact probe's candidates (ESM and RNA-FM: 6)
CONTACT_SEPARATION = 6


@dataclass
class StructureRecord:
    """A labelled RNA for the structure probe."""

    id: str
    sequence: str
    pairs: np.ndarray  # (Q, 2) base pairs
    origin: str  # "reference" or "predicted"


@dataclass
class MaskedLMTask:
    """Masked-LM loss and perplexity on held-out sequences (fixed masks).

    ``unigram_loss`` is the floor a model must beat to have learned any context:
    the cross-entropy of the held-out residues under the pretraining pool's
    residue frequencies (:func:`~biocoreset_viz.train.unigram_cross_entropy`).
    """

    sequences: list[str]
    max_length: int
    max_tokens: int = 8192
    seed: int = 0
    name: str = "mlm"
    unigram_loss: float | None = None

    def evaluate(self, model, alphabet) -> list[MetricRow]:
        from biocoreset_viz.train import mlm_loss

        loss = mlm_loss(
            model,
            alphabet,
            self.sequences,
            seed=self.seed,
            max_tokens=self.max_tokens,
            max_length=self.max_length,
        )
        return [(self.name, "loss", loss), (self.name, "perplexity", math.exp(loss))]


@dataclass
class ClassificationTask:
    """A linear probe on mean-pooled embeddings: accuracy and macro-F1."""

    name: str
    train_sequences: list[str]
    train_labels: list[str]
    test_sequences: list[str]
    test_labels: list[str]
    max_length: int
    max_tokens: int = 8192

    def evaluate(self, model, alphabet) -> list[MetricRow]:
        def pooled(sequences: list[str]) -> np.ndarray:
            features = embed_sequences(
                model, alphabet, sequences, max_length=self.max_length, max_tokens=self.max_tokens
            )
            return np.stack([f.pooled for f in features])  # (N, D)

        metrics = classification_probe(
            pooled(self.train_sequences),
            self.train_labels,
            pooled(self.test_sequences),
            self.test_labels,
        )
        return [(self.name, metric, value) for metric, value in metrics.items()]


@dataclass
class StructureTask:
    """Base pairs from embeddings and attention maps, by two probes.

    * the base-pair probe (:class:`~biocoreset_viz.evaluation.probes.StructureProbe`
      on embeddings and attention, candidates ``j - i >= min_separation``): ``f1``
      of the decoded structure and ``top_L_precision``;
    * the **contact probe**, as ESM and RNA-FM evaluate contacts: a logistic
      regression on the APC-corrected attention maps of every layer and head alone
      (no embedding features, so the nucleotides' identities, which an untrained
      model's embeddings carry as well as a trained one's, do not enter),
      judged by ``contact_precision``: the top-L precision among candidates
      ``j - i >= contact_separation``. It measures what attention learned.

    Test structures of origin ``reference`` are scored as task ``structure``, those
    folded by ViennaRNA as ``structure_predicted``.
    """

    train: list[StructureRecord]
    test: list[StructureRecord]
    min_separation: int = DEFAULT_MIN_SEPARATION
    max_tokens: int = 8192
    seed: int = 0
    name: str = "structure"
    contact_separation: int = CONTACT_SEPARATION

    def _features(self, model, alphabet, records: list[StructureRecord]) -> list[SequenceFeatures]:
        return embed_sequences(
            model,
            alphabet,
            [r.sequence for r in records],
            max_tokens=self.max_tokens,
            attention=True,
        )

    @staticmethod
    def _examples(
        records: list[StructureRecord], features: list[SequenceFeatures], separation: int
    ) -> list[StructureExample]:
        return [
            structure_example(
                record.pairs,
                feature.residues,
                feature.attention,
                min_separation=separation,
                origin=record.origin,
            )
            for record, feature in zip(records, features, strict=True)
        ]

    def evaluate(self, model, alphabet) -> list[MetricRow]:
        train = self._features(model, alphabet, self.train)
        test = self._features(model, alphabet, self.test)
        probe = StructureProbe(seed=self.seed).fit(
            self._examples(self.train, train, self.min_separation)
        )
        contact = StructureProbe(pca_dim=0, seed=self.seed).fit(
            self._examples(self.train, train, self.contact_separation)
        )
        pair_examples = self._examples(self.test, test, self.min_separation)
        contact_examples = self._examples(self.test, test, self.contact_separation)
        rows = []
        for origin, task in (("reference", self.name), ("predicted", f"{self.name}_predicted")):
            chosen = [e for e in pair_examples if e.origin == origin]
            if chosen:
                rows += [(task, m, v) for m, v in probe.evaluate(chosen).items()]
                contacts = [e for e in contact_examples if e.origin == origin]
                precision = contact.evaluate(contacts)["top_L_precision"]
                rows.append((task, "contact_precision", precision))
        return rows


Task = MaskedLMTask | ClassificationTask | StructureTask
