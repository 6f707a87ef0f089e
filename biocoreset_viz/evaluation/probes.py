"""Frozen-embedding probes: RNA base pairs and sequence classes, with their metrics.

A probe measures what a pretrained model's representations already contain: the
model is frozen, and only a light classifier (logistic regression) is fitted on
top. Everything here is a pure function of arrays except :func:`embed_sequences`,
which runs the model.

**Base pairs** (:class:`StructureProbe`). For every candidate pair ``(i, j)`` with
``j - i >= min_separation`` (default 4: a hairpin loop has at least three
unpaired nucleotides), the features are

* the symmetric outer product of the two positions' embeddings after a whitened
  PCA to ``pca_dim`` dimensions (``u_i u_j^T + u_j u_i^T``, upper triangle: a
  full symmetric bilinear form in the PCA space, ``r (r + 1) / 2`` features);
* every attention head's map, symmetrised and corrected by the average product
  (APC), at ``(i, j)``: the features of ESM's contact head.

A logistic regression is fitted on all true pairs and a seeded sample of
non-pairs of the training structures. Predictions are decoded greedily: pairs in
decreasing score are accepted while both positions are free and the score is
above a threshold, which is tuned on the training structures to maximise their
mean F1. Metrics, per test structure and then averaged: base-pair F1 of the
decoded structure, and top-L precision (the share of true pairs among the
``L`` best-scored candidates, ``L`` the sequence length; at most
``pairs / L``, about 0.3 for typical RNAs).

**Sequence classes** (:func:`classification_probe`): multinomial logistic
regression on mean-pooled final-layer embeddings; accuracy and macro-F1 over the
classes present in the test set.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from biocoreset_viz.errors import ConfigError, InputError

# bracket pairs of dot-bracket notation: (), [], {}, <> and, for deeper
# pseudoknots, Aa ... Zz (bpRNA's convention)
_OPENERS = "([{<" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CLOSERS = ")]}>" + "abcdefghijklmnopqrstuvwxyz"
CLOSER_TO_OPENER = dict(zip(_CLOSERS, _OPENERS, strict=True))
OPENERS = frozenset(_OPENERS)
UNPAIRED = frozenset(".,:_-~")
DEFAULT_MIN_SEPARATION = 4


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS on one thread: probe matrices are small, and multithreaded OpenBLAS on
    small matrices is slower (tens of times on a busy machine) than one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ----------------------------------------------------------------------- structures


def parse_dot_bracket(structure: str) -> np.ndarray:
    """Base pairs of a dot-bracket string, pseudoknots included.

    ``.`` (and ``, : _ - ~``) is unpaired; ``()``, ``[]``, ``{}``, ``<>`` and
    ``Aa`` ... ``Zz`` are pairs, each bracket type matched separately.

    Returns:
        ``(P, 2)`` int64 0-based positions ``i < j``, sorted by ``i``.

    Raises:
        InputError: an unbalanced bracket or an unknown character, with its
            1-based position.
    """
    stacks: dict[str, list[int]] = {opener: [] for opener in _OPENERS}
    pairs: list[tuple[int, int]] = []
    for position, char in enumerate(structure):
        if char in UNPAIRED:
            continue
        if char in OPENERS:
            stacks[char].append(position)
        elif char in CLOSER_TO_OPENER:
            stack = stacks[CLOSER_TO_OPENER[char]]
            if not stack:
                raise InputError(
                    f"unbalanced structure: {char!r} at position {position + 1} closes nothing"
                )
            pairs.append((stack.pop(), position))
        else:
            raise InputError(
                f"unknown character {char!r} at position {position + 1} of a dot-bracket structure"
            )
    for opener, stack in stacks.items():
        if stack:
            raise InputError(
                f"unbalanced structure: {opener!r} at position {stack[-1] + 1} is never closed"
            )
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    return np.array(sorted(pairs), dtype=np.int64)


def dot_bracket_from_pairs(pairs: np.ndarray, length: int) -> str:
    """Write base pairs as a dot-bracket string, pseudoknots included.

    Each pair, in 5' order, gets the first bracket type (``()``, ``[]``, ``{}``,
    ``<>``, then ``Aa`` ...) whose pairs it does not cross, so nested structures
    use only ``()``.

    Raises:
        InputError: a position in two pairs, a pair of one position, or beyond ``length``.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    ordered = sorted((min(i, j), max(i, j)) for i, j in pairs.tolist())
    characters = ["."] * length
    levels: list[list[tuple[int, int]]] = []
    for i, j in ordered:
        if i == j or i < 0 or j >= length:
            raise InputError(f"invalid base pair ({i}, {j}) for length {length}")
        if characters[i] != "." or characters[j] != ".":
            raise InputError(f"position {i if characters[i] != '.' else j} is in two base pairs")
        crosses = [any(a < i < b < j or i < a < j < b for a, b in placed) for placed in levels]
        level = crosses.index(False) if False in crosses else len(levels)
        if level == len(levels):
            if level >= len(_OPENERS):
                raise InputError("too many crossing base pairs for dot-bracket notation")
            levels.append([])
        levels[level].append((i, j))
        characters[i], characters[j] = _OPENERS[level], _CLOSERS[level]
    return "".join(characters)


def candidate_pairs(length: int, min_separation: int = DEFAULT_MIN_SEPARATION) -> np.ndarray:
    """Every pair ``(i, j)`` with ``j - i >= min_separation``, row-major, ``(P, 2)`` int64."""
    if min_separation < 1:
        raise ConfigError(f"min_separation must be >= 1, got {min_separation}")
    first, second = np.triu_indices(length, k=min_separation)
    return np.stack([first, second], axis=1).astype(np.int64)


def _pair_keys(pairs: np.ndarray, length: int) -> np.ndarray:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    low, high = pairs.min(axis=1), pairs.max(axis=1)  # (i, j) and (j, i) are one pair
    return low * length + high


def _key_length(*pair_arrays: np.ndarray) -> int:
    top = [int(np.asarray(p).max()) for p in pair_arrays if np.asarray(p).size]
    return max(top, default=0) + 1


def base_pair_metrics(true_pairs: np.ndarray, predicted_pairs: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of predicted base pairs against the true ones.

    Pairs are unordered (``(i, j)`` equals ``(j, i)``). F1 is ``2 TP / (|pred| +
    |true|)``; when both sets are empty every metric is 1; precision of an empty
    prediction (or recall of an empty truth) with the other side non-empty is 0.
    """
    length = _key_length(true_pairs, predicted_pairs)
    truth = np.unique(_pair_keys(true_pairs, length))
    predicted = np.unique(_pair_keys(predicted_pairs, length))
    hits = len(np.intersect1d(truth, predicted, assume_unique=True))
    n_true, n_pred = len(truth), len(predicted)
    if n_true + n_pred == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    return {
        "precision": hits / n_pred if n_pred else 0.0,
        "recall": hits / n_true if n_true else 0.0,
        "f1": 2 * hits / (n_true + n_pred),
    }


def base_pair_f1(true_pairs: np.ndarray, predicted_pairs: np.ndarray) -> float:
    """F1 of predicted base pairs (see :func:`base_pair_metrics`)."""
    return base_pair_metrics(true_pairs, predicted_pairs)["f1"]


def _ranking(scores: np.ndarray) -> np.ndarray:
    # stable sort on the negated scores: ties keep the candidates' order
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def top_k_precision(pairs: np.ndarray, scores: np.ndarray, true_pairs: np.ndarray, k: int) -> float:
    """Share of true pairs among the ``k`` highest-scored candidate pairs.

    Ties are broken by the candidates' order. With fewer than ``k`` candidates,
    all are used.

    Args:
        pairs: ``(P, 2)`` candidate pairs.
        scores: ``(P,)`` their scores (higher = more likely paired).
        true_pairs: ``(Q, 2)`` the true pairs.
        k: how many top candidates to judge (``L`` for top-L precision).

    Returns:
        The precision, or NaN when there is no candidate.
    """
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) != len(scores):
        raise InputError(f"{len(scores)} scores for {len(pairs)} pairs")
    if not len(pairs):
        return float("nan")
    top = _ranking(scores)[:k]
    length = _key_length(pairs, true_pairs)
    hits = np.isin(_pair_keys(pairs[top], length), _pair_keys(true_pairs, length))
    return float(hits.mean())


def greedy_decode(
    pairs: np.ndarray, scores: np.ndarray, threshold: float = -np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """A structure from pair scores: best pairs first, each position paired at most once.

    Because a pair is accepted or not depending only on higher-scored pairs, the
    structure at any higher threshold is a prefix of the returned one.

    Args:
        pairs: ``(P, 2)`` candidate pairs.
        scores: ``(P,)`` scores.
        threshold: pairs scored below it are not accepted.

    Returns:
        ``(accepted, accepted_scores)``: ``(Q, 2)`` pairs in decreasing score and
        their ``(Q,)`` scores.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64)
    if len(pairs) != len(scores):
        raise InputError(f"{len(scores)} scores for {len(pairs)} pairs")
    if not len(pairs):
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    order = _ranking(scores)
    order = order[scores[order] >= threshold]
    used = np.zeros(int(pairs.max()) + 1, dtype=bool)
    free = len(np.unique(pairs))
    accepted: list[int] = []
    first, second = pairs[:, 0].tolist(), pairs[:, 1].tolist()
    for candidate in order.tolist():
        if free < 2:
            break
        i, j = first[candidate], second[candidate]
        if used[i] or used[j]:
            continue
        used[i] = used[j] = True
        free -= 2
        accepted.append(candidate)
    chosen = np.asarray(accepted, dtype=np.int64)
    return pairs[chosen], scores[chosen]


# ----------------------------------------------------------------------- features


def symmetrized_apc(attention: np.ndarray) -> np.ndarray:
    """Attention maps symmetrised and corrected by the average product, as ESM's contact head.

    Args:
        attention: ``(C, L, L)`` maps (one per layer and head) over the residues.

    Returns:
        ``(C, L, L)``: ``S - S.sum(1) S.sum(0) / S.sum()`` with ``S = A + A^T``.
    """
    sym = attention + np.swapaxes(attention, -1, -2)  # (C, L, L)
    row = sym.sum(axis=-1, keepdims=True)  # (C, L, 1)
    col = sym.sum(axis=-2, keepdims=True)  # (C, 1, L)
    total = sym.sum(axis=(-1, -2), keepdims=True)  # (C, 1, 1)
    return sym - row * col / np.where(total == 0, 1.0, total)


def symmetric_outer_features(projected: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Upper triangle of ``u_i u_j^T + u_j u_i^T`` for each pair.

    Args:
        projected: ``(L, r)`` per-residue vectors.
        pairs: ``(P, 2)`` pairs.

    Returns:
        ``(P, r (r + 1) / 2)`` float32 features, symmetric in ``i`` and ``j``.
    """
    left = projected[pairs[:, 0]]  # (P, r)
    right = projected[pairs[:, 1]]  # (P, r)
    outer = left[:, :, None] * right[:, None, :]  # (P, r, r)
    sym = outer + np.swapaxes(outer, 1, 2)  # (P, r, r)
    rows, cols = np.triu_indices(projected.shape[1])
    return sym[:, rows, cols].astype(np.float32)


@dataclass
class StructureExample:
    """One RNA with its known structure and a model's features of it.

    Attributes:
        length: residues.
        true_pairs: ``(Q, 2)`` base pairs (all of them, also those closer than the
            minimum separation, which no candidate can recover).
        candidates: ``(P, 2)`` candidate pairs ``j - i >= min_separation``.
        is_pair: ``(P,)`` bool, which candidates are true pairs.
        residues: ``(L, D)`` final-layer embeddings.
        attention: ``(P, C)`` APC-corrected symmetric attention at the candidates,
            one column per layer and head, or ``None``.
        origin: ``"reference"`` (a real structure) or ``"predicted"`` (ViennaRNA).
    """

    length: int
    true_pairs: np.ndarray
    candidates: np.ndarray
    is_pair: np.ndarray
    residues: np.ndarray
    attention: np.ndarray | None = None
    origin: str = "reference"


def structure_example(
    true_pairs: np.ndarray,
    residues: np.ndarray,
    attention_maps: np.ndarray | None = None,
    *,
    min_separation: int = DEFAULT_MIN_SEPARATION,
    origin: str = "reference",
) -> StructureExample:
    """Build a :class:`StructureExample` from a structure and a model's features.

    Args:
        true_pairs: ``(Q, 2)`` from :func:`parse_dot_bracket`.
        residues: ``(L, D)`` embeddings of the ``L`` residues.
        attention_maps: ``(C, L, L)`` raw attention over the residues, or ``None``.
        min_separation: smallest ``j - i`` of a candidate.
        origin: where the structure comes from.
    """
    length = len(residues)
    true_pairs = np.asarray(true_pairs, dtype=np.int64).reshape(-1, 2)
    if true_pairs.size and true_pairs.max() >= length:
        raise InputError(f"a base pair lies beyond the {length} residues")
    candidates = candidate_pairs(length, min_separation)
    key_length = max(length, 1)
    is_pair = np.isin(_pair_keys(candidates, key_length), _pair_keys(true_pairs, key_length))
    attention = None
    if attention_maps is not None:
        corrected = symmetrized_apc(np.asarray(attention_maps, dtype=np.float32))  # (C, L, L)
        attention = corrected[:, candidates[:, 0], candidates[:, 1]].T.copy()  # (P, C)
    return StructureExample(
        length, true_pairs, candidates, is_pair, np.asarray(residues, np.float32), attention, origin
    )


# ----------------------------------------------------------------------- probes


@dataclass
class StructureProbe:
    """Logistic regression on pair features, decoded greedily (see the module docstring).

    Attributes:
        pca_dim: dimensions kept of the residue embeddings (0: no embedding features).
        use_attention: add the APC attention features (when the examples have them).
        negatives_per_positive: non-pairs sampled per true pair of a training structure.
        max_training_pairs: cap on the pairs the regression is fitted on.
        regularization: inverse L2 strength ``C`` of the regression.
        seed: seeds the sampling of non-pairs.
    """

    pca_dim: int = 16
    use_attention: bool = True
    negatives_per_positive: int = 10
    max_training_pairs: int = 60_000
    regularization: float = 1.0
    seed: int = 0
    mean_: np.ndarray | None = field(default=None, init=False, repr=False)
    projection_: np.ndarray | None = field(default=None, init=False, repr=False)
    model_: object | None = field(default=None, init=False, repr=False)
    threshold_: float = field(default=np.inf, init=False)
    intercept_: float = field(default=0.0, init=False, repr=False)
    bilinear_: np.ndarray | None = field(default=None, init=False, repr=False)
    attention_weights_: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.pca_dim < 0:
            raise ConfigError(f"pca_dim must be >= 0, got {self.pca_dim}")
        if self.negatives_per_positive < 1:
            raise ConfigError(
                f"negatives_per_positive must be >= 1, got {self.negatives_per_positive}"
            )

    def _features(self, example: StructureExample, rows: np.ndarray | None = None) -> np.ndarray:
        pairs = example.candidates if rows is None else example.candidates[rows]
        parts = []
        if self.projection_ is not None:
            projected = (example.residues - self.mean_) @ self.projection_  # (L, r)
            parts.append(symmetric_outer_features(projected, pairs))
        if self.use_attention and example.attention is not None:
            attention = example.attention if rows is None else example.attention[rows]
            parts.append(attention.astype(np.float32))  # (P, C)
        if not parts:
            raise ConfigError("no features: set pca_dim > 0 or give attention maps")
        return np.concatenate(parts, axis=1)

    def _fit_projection(self, examples: Sequence[StructureExample]) -> None:
        if self.pca_dim == 0:
            self.mean_ = self.projection_ = None
            return
        residues = np.concatenate([e.residues for e in examples]).astype(np.float64)  # (N, D)
        self.mean_ = residues.mean(axis=0)
        _, singular, vt = np.linalg.svd(residues - self.mean_, full_matrices=False)
        rank = min(self.pca_dim, len(singular))
        # whitened: every kept direction has unit variance, so no one dominates the products
        scale = singular[:rank] / np.sqrt(max(len(residues) - 1, 1))
        self.projection_ = (vt[:rank].T / np.where(scale > 0, scale, 1.0)).astype(np.float32)
        self.mean_ = self.mean_.astype(np.float32)

    def fit(self, examples: Sequence[StructureExample]) -> StructureProbe:
        """Fit the projection, the regression and the decoding threshold."""
        if not examples:
            raise InputError("no training structures")
        with single_threaded_blas():
            return self._fit(examples)

    def _fit(self, examples: Sequence[StructureExample]) -> StructureProbe:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self._fit_projection(examples)
        rng = np.random.default_rng(self.seed)
        features, labels = [], []
        for example in examples:
            positives = np.flatnonzero(example.is_pair)
            negatives = np.flatnonzero(~example.is_pair)
            wanted = self.negatives_per_positive * max(len(positives), 1)
            if len(negatives) > wanted:
                negatives = np.sort(rng.choice(negatives, wanted, replace=False))
            rows = np.concatenate([positives, negatives])
            features.append(self._features(example, rows))
            labels.append(example.is_pair[rows])
        x = np.concatenate(features)
        y = np.concatenate(labels)
        if len(x) > self.max_training_pairs:
            keep = np.sort(rng.choice(len(x), self.max_training_pairs, replace=False))
            x, y = x[keep], y[keep]
        if y.all() or not y.any():
            raise InputError("the training structures need both paired and unpaired candidates")
        self.model_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.regularization, max_iter=1000),
        ).fit(x, y)
        self._fold_weights()
        self.threshold_ = self._tune_threshold(examples)
        return self

    def _fold_weights(self) -> None:
        """Fold the scaler into the regression: a bilinear form and per-head weights.

        The score of ``(i, j)`` is linear in the features, so it equals
        ``u_i^T B u_j + a . attention(i, j) + c``, with ``B`` symmetric: scoring
        all candidates then needs one ``(L, L)`` product, not ``(P, F)`` features.
        """
        scaler, regression = self.model_[0], self.model_[-1]
        weights = regression.coef_[0] / scaler.scale_  # (F,)
        self.intercept_ = float(regression.intercept_[0] - weights @ scaler.mean_)
        rank = 0 if self.projection_ is None else self.projection_.shape[1]
        n_outer = rank * (rank + 1) // 2
        bilinear = np.zeros((rank, rank))
        rows, cols = np.triu_indices(rank)
        # feature (a, b), a < b, is u_ia u_jb + u_ib u_ja; feature (a, a) is 2 u_ia u_ja
        bilinear[rows, cols] = weights[:n_outer]
        bilinear = bilinear + bilinear.T  # off-diagonal w_ab both ways, diagonal 2 w_aa
        self.bilinear_ = bilinear
        self.attention_weights_ = weights[n_outer:]

    def scores(self, example: StructureExample) -> np.ndarray:
        """``(P,)`` decision values of the example's candidate pairs."""
        if self.model_ is None:
            raise ConfigError("the probe is not fitted")
        if not len(example.candidates):
            return np.empty(0)
        first, second = example.candidates[:, 0], example.candidates[:, 1]
        scores = np.full(len(first), self.intercept_)
        if self.projection_ is not None:
            projected = (example.residues - self.mean_) @ self.projection_  # (L, r)
            pair_matrix = projected @ self.bilinear_ @ projected.T  # (L, L)
            scores += pair_matrix[first, second]
        if len(self.attention_weights_):
            scores += example.attention @ self.attention_weights_  # (P,)
        return scores

    def _tune_threshold(self, examples: Sequence[StructureExample]) -> float:
        """The threshold that maximises the mean F1 of the decoded training structures."""
        decoded = []
        for example in examples:
            accepted, accepted_scores = greedy_decode(example.candidates, self.scores(example))
            length = max(example.length, 1)
            correct = np.isin(_pair_keys(accepted, length), _pair_keys(example.true_pairs, length))
            decoded.append((accepted_scores, np.cumsum(correct), len(example.true_pairs)))
        pooled = np.concatenate([s for s, _, _ in decoded])
        if not len(pooled):
            return np.inf
        grid = np.unique(np.quantile(pooled, np.linspace(0, 1, 201)))
        grid = np.append(grid, np.inf)  # predicting nothing is a candidate too
        total = np.zeros(len(grid))
        for accepted_scores, hits, n_true in decoded:
            # scores are decreasing: how many accepted pairs clear each threshold
            n_pred = np.searchsorted(-accepted_scores, -grid, side="right")
            tp = np.where(n_pred > 0, hits[np.maximum(n_pred - 1, 0)] if len(hits) else 0, 0)
            denominator = n_pred + n_true
            total += np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0)
        # F1 is flat between neighbouring scores: take the middle of the best range, so
        # that the threshold keeps a margin on both sides
        best = np.flatnonzero(np.isclose(total, total.max()))
        low, high = grid[best[0]], grid[best[-1]]
        return float(low if not np.isfinite(high) else (low + high) / 2)

    def predict(self, example: StructureExample) -> np.ndarray:
        """The decoded structure: ``(Q, 2)`` pairs."""
        return greedy_decode(example.candidates, self.scores(example), self.threshold_)[0]

    def evaluate(self, examples: Sequence[StructureExample]) -> dict[str, float]:
        """Mean per-structure base-pair F1 and top-L precision on ``examples``."""
        if not examples:
            raise InputError("no test structures")
        with single_threaded_blas():
            return self._evaluate(examples)

    def _evaluate(self, examples: Sequence[StructureExample]) -> dict[str, float]:
        f1, top_l = [], []
        for example in examples:
            scores = self.scores(example)
            predicted = greedy_decode(example.candidates, scores, self.threshold_)[0]
            f1.append(base_pair_f1(example.true_pairs, predicted))
            if len(example.candidates):
                top_l.append(
                    top_k_precision(example.candidates, scores, example.true_pairs, example.length)
                )
        return {
            "f1": float(np.mean(f1)),
            "top_L_precision": float(np.mean(top_l)) if top_l else float("nan"),
        }


def classification_probe(
    train_features: np.ndarray,
    train_labels: Sequence[object],
    test_features: np.ndarray,
    test_labels: Sequence[object],
    *,
    regularization: float = 1.0,
) -> dict[str, float]:
    """Fit a linear probe (standardised logistic regression) and score it on the test set.

    Args:
        train_features: ``(N, D)`` training embeddings.
        train_labels: ``N`` class labels (at least two classes).
        test_features: ``(M, D)`` test embeddings.
        test_labels: ``M`` labels.
        regularization: inverse L2 strength ``C``.

    Returns:
        ``accuracy`` and ``macro_f1`` (the unweighted mean F1 over the classes
        present in the test labels; a class never predicted scores 0).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_labels = np.asarray(train_labels, dtype=object)
    test_labels = np.asarray(test_labels, dtype=object)
    if len(np.unique(train_labels)) < 2:
        raise InputError("the probe needs at least two classes to train on")
    if not len(test_labels):
        raise InputError("no test examples")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=2000))
    with single_threaded_blas():
        model.fit(np.asarray(train_features, dtype=np.float64), train_labels.astype(str))
        predicted = model.predict(np.asarray(test_features, dtype=np.float64))
    truth = test_labels.astype(str)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(
            f1_score(truth, predicted, labels=np.unique(truth), average="macro", zero_division=0)
        ),
    }


# ----------------------------------------------------------------------- model features


@dataclass
class SequenceFeatures:
    """A model's view of one sequence.

    Attributes:
        residues: ``(L, D)`` final-layer embeddings of the residues (BOS/EOS dropped).
        attention: ``(C, L, L)`` attention maps over the residues, ``C`` = layers x
            heads, or ``None``.
    """

    residues: np.ndarray
    attention: np.ndarray | None = None

    @property
    def pooled(self) -> np.ndarray:
        """``(D,)`` mean over the residues."""
        return self.residues.mean(axis=0)


def embed_sequences(
    model,
    alphabet,
    sequences: Sequence[str],
    *,
    max_length: int | None = None,
    max_tokens: int = 8192,
    attention: bool = False,
    device=None,
) -> list[SequenceFeatures]:
    """Run a frozen model over sequences: final-layer embeddings and, optionally, attention.

    Sequences are batched by length under a token budget; results come back in
    input order. The model is left in eval mode.

    Args:
        model: a fair-esm ESM-2 or ESM-1b-style model.
        alphabet: its alphabet.
        sequences: the sequences.
        max_length: residues kept per sequence (the first ones).
        max_tokens: token budget per batch.
        attention: also return every layer's and head's attention maps.
        device: default the model's.
    """
    import torch

    from biocoreset_viz.models import encode_batch, token_budget_batches

    device = device if device is not None else next(model.parameters()).device
    lengths = np.array(
        [len(s) if max_length is None else min(len(s), max_length) for s in sequences]
    )
    extra = int(alphabet.prepend_bos) + int(alphabet.append_eos)
    bos = int(alphabet.prepend_bos)
    last_layer = len(model.layers)
    results: list[SequenceFeatures | None] = [None] * len(sequences)
    model.eval()
    with torch.no_grad():
        for batch in token_budget_batches(lengths, max_tokens, extra_tokens=extra):
            tokens = encode_batch(alphabet, [sequences[i] for i in batch], max_length)  # (B, T)
            output = model(tokens.to(device), repr_layers=[last_layer], need_head_weights=attention)
            residues = output["representations"][last_layer].float().cpu().numpy()  # (B, T, D)
            maps = None
            if attention:
                maps = output["attentions"].float().cpu().numpy()  # (B, layers, heads, T, T)
            for row, index in enumerate(batch):
                n = int(lengths[index])
                head_maps = None
                if maps is not None:
                    layers, heads = maps.shape[1], maps.shape[2]
                    block = maps[row, :, :, bos : bos + n, bos : bos + n]  # (layers, heads, L, L)
                    head_maps = block.reshape(layers * heads, n, n)  # (C, L, L)
                results[index] = SequenceFeatures(residues[row, bos : bos + n].copy(), head_maps)
    return results  # type: ignore[return-value]
