"""Leave-one-out ground truth for self-influence, on a problem small enough to retrain.

Self-influence claims to measure how much a sample matters to the model trained
on it. The ground truth is expensive: retrain without the sample and see how
much worse the model does on it. On a deep model that costs one training run
per sample; on an L2-regularised logistic regression of a few dozen points it
costs milliseconds, so every estimate can be checked against the real thing.

:func:`leave_one_out_study` builds such a problem (two Gaussian classes, some
labels flipped), fits it exactly by Newton's method, refits it once without each
point, and records for every point the true effect of removing it on its own
loss next to the estimates of it:

* ``influence_hessian``: the classical influence function ``g_i^T H^-1 g_i``
  with the exact Hessian H of the training objective (Koh and Liang, 2017);
* ``self_influence``: the method of design §2, ``sum_j g_ij^2 / (F_j + lambda)``
  with the diagonal empirical Fisher F of a random subset of the points;
* ``self_influence_all_points``: the same with F over every point;
* ``gradient_norm``: ``|g_i|^2``, no curvature at all (a baseline);
* ``loss``: the point's training loss (a baseline).

The objective is a sum, ``J(theta) = sum_j l_j(theta) + (l2 / 2) |theta|^2``, so
removing point i gives ``J - l_i`` and, to first order, the loss of point i rises
by ``g_i^T H^-1 g_i`` (H the Hessian of J): ``influence_hessian`` is on the same
scale as the true effect, the Fisher-based scores only rank the points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ESTIMATES = (
    "influence_hessian",
    "self_influence",
    "self_influence_all_points",
    "gradient_norm",
    "loss",
)
_NEWTON_TOLERANCE = 1e-12
_NEWTON_STEPS = 100


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|


def _losses(design: np.ndarray, labels: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Per-point logistic loss ``log(1 + exp(-y' z))`` with ``y'`` in {-1, +1}."""
    margin = (2.0 * labels - 1.0) * (design @ theta)
    return np.logaddexp(0.0, -margin)


def fit_logistic(
    design: np.ndarray,
    labels: np.ndarray,
    *,
    l2: float,
    weights: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Minimise ``sum_j w_j l_j(theta) + (l2 / 2) |theta|^2`` exactly (Newton's method).

    Args:
        design: ``(n, p)`` features (include a column of ones for a bias).
        labels: ``(n,)`` labels in {0, 1}.
        l2: ridge strength > 0 (makes the problem strictly convex).
        weights: ``(n,)`` per-point weights (default 1; 0 leaves a point out).
        start: initial parameters (default zeros).

    Returns:
        ``(p,)`` parameters, converged until a Newton step is below 1e-12.

    Raises:
        ValueError: ``l2 <= 0``.
        RuntimeError: no convergence in 100 steps.
    """
    if not l2 > 0:
        raise ValueError(f"l2 must be > 0, got {l2!r}")
    n, p = design.shape
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    theta = np.zeros(p) if start is None else np.array(start, dtype=np.float64)
    for _ in range(_NEWTON_STEPS):
        prob = _sigmoid(design @ theta)
        gradient = design.T @ (weights * (prob - labels)) + l2 * theta
        hessian = (design * (weights * prob * (1 - prob))[:, None]).T @ design + l2 * np.eye(p)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < _NEWTON_TOLERANCE:
            return theta
    raise RuntimeError("Newton's method did not converge in 100 steps")


def toy_classification(
    n_samples: int = 60,
    n_features: int = 4,
    *,
    label_noise: float = 0.1,
    separation: float = 1.5,
    scale_range: tuple[float, float] = (1.0, 1.0),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two Gaussian classes with some labels flipped.

    Class means are ``±separation / 2`` along every feature (unit variance); a
    fraction ``label_noise`` of the points, drawn at random, get the wrong label.
    Feature j is then multiplied by a scale, geometrically spaced from
    ``scale_range[0]`` (first feature) to ``scale_range[1]`` (last), so that
    the gradient's coordinates differ in size as a network's parameters do.

    Returns:
        ``(design, labels, flipped)``: ``(n, n_features + 1)`` features with a final
        column of ones (the bias), ``(n,)`` labels in {0, 1}, ``(n,)`` bool.

    Raises:
        ValueError: fewer than 4 samples, no feature, or ``label_noise`` outside [0, 0.5).
    """
    if n_samples < 4 or n_features < 1:
        raise ValueError(
            f"need n_samples >= 4 and n_features >= 1, got {n_samples} and {n_features}"
        )
    if not 0 <= label_noise < 0.5:
        raise ValueError(f"label_noise must be in [0, 0.5), got {label_noise!r}")
    if not (len(scale_range) == 2 and min(scale_range) > 0):
        raise ValueError(f"scale_range must be two positive numbers, got {scale_range!r}")
    rng = np.random.default_rng(seed)
    truth = np.arange(n_samples) % 2
    rng.shuffle(truth)
    centre = (truth[:, None] - 0.5) * separation
    features = rng.normal(size=(n_samples, n_features)) + centre
    features *= np.geomspace(scale_range[0], scale_range[1], n_features)
    flipped = np.zeros(n_samples, dtype=bool)
    flipped[rng.choice(n_samples, round(label_noise * n_samples), replace=False)] = True
    labels = np.where(flipped, 1 - truth, truth).astype(np.float64)
    design = np.hstack([features, np.ones((n_samples, 1))])
    return design, labels, flipped


@dataclass
class LeaveOneOutStudy:
    """Per-point true leave-one-out effects next to their estimates.

    Attributes:
        design: ``(n, p)`` features (last column: ones).
        labels: ``(n,)`` training labels in {0, 1} (flipped ones included).
        theta: the parameters fitted on every point.
        table: one row per point: ``label_flipped``, ``loo_effect`` (the rise of the
            point's own loss when the model is refitted without it) and the
            estimates of :data:`ESTIMATES`.
        fisher_subset: indices of the points the diagonal Fisher of
            ``self_influence`` was averaged over.
    """

    design: np.ndarray
    labels: np.ndarray
    theta: np.ndarray
    table: pd.DataFrame
    fisher_subset: np.ndarray

    def correlations(self) -> pd.DataFrame:
        """Spearman rank correlation of every estimate with the true effect.

        Returns:
            ``estimate`` and ``spearman``, in the order of :data:`ESTIMATES`.
        """
        truth = self.table["loo_effect"]
        return pd.DataFrame(
            {
                "estimate": list(ESTIMATES),
                "spearman": [truth.corr(self.table[name], method="spearman") for name in ESTIMATES],
            }
        )


def leave_one_out_study(
    n_samples: int = 60,
    n_features: int = 4,
    *,
    label_noise: float = 0.1,
    separation: float = 1.5,
    scale_range: tuple[float, float] = (0.1, 10.0),
    l2: float = 1.0,
    fisher_subset: float = 0.5,
    damping: float = 1e-8,
    seed: int = 0,
) -> LeaveOneOutStudy:
    """Fit, refit without each point, and compare the true effects with their estimates.

    Args:
        n_samples, n_features, label_noise, separation, scale_range, seed: the
            data (:func:`toy_classification`; by default the features' scales
            spread from 0.1 to 10).
        l2: ridge strength of the objective.
        fisher_subset: fraction of the points the diagonal Fisher of
            ``self_influence`` is averaged over (drawn with ``seed``).
        damping: lambda added to the diagonal Fisher.

    Returns:
        A :class:`LeaveOneOutStudy`.
    """
    if not 0 < fisher_subset <= 1:
        raise ValueError(f"fisher_subset must be in (0, 1], got {fisher_subset!r}")
    design, labels, flipped = toy_classification(
        n_samples,
        n_features,
        label_noise=label_noise,
        separation=separation,
        scale_range=scale_range,
        seed=seed,
    )
    n, p = design.shape
    theta = fit_logistic(design, labels, l2=l2)
    losses = _losses(design, labels, theta)
    prob = _sigmoid(design @ theta)
    gradients = design * (prob - labels)[:, None]  # (n, p): g_i of each point's own loss
    hessian = (design * (prob * (1 - prob))[:, None]).T @ design + l2 * np.eye(p)
    influence = np.einsum("ij,ij->i", gradients, np.linalg.solve(hessian, gradients.T).T)
    subset = np.sort(
        np.random.default_rng(seed).choice(n, max(1, round(fisher_subset * n)), replace=False)
    )
    squared = gradients**2
    effects = np.empty(n)
    for i in range(n):
        weights = np.ones(n)
        weights[i] = 0.0
        refitted = fit_logistic(design, labels, l2=l2, weights=weights, start=theta)
        effects[i] = _losses(design[i : i + 1], labels[i : i + 1], refitted)[0] - losses[i]
    table = pd.DataFrame(
        {
            "label_flipped": flipped,
            "loo_effect": effects,
            "influence_hessian": influence,
            "self_influence": (squared / (squared[subset].mean(0) + damping)).sum(1),
            "self_influence_all_points": (squared / (squared.mean(0) + damping)).sum(1),
            "gradient_norm": squared.sum(1),
            "loss": losses,
        }
    )
    return LeaveOneOutStudy(design, labels, theta, table, subset)
