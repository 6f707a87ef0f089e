"""Leave-one-out ground truth: exact refits, and influence estimates checked against them."""

from __future__ import annotations

import numpy as np
import pytest

from biocoreset_viz.loo import (
    ESTIMATES,
    _losses,
    fit_logistic,
    leave_one_out_study,
    toy_classification,
)


@pytest.fixture(scope="module")
def study():
    return leave_one_out_study(seed=3)


def test_fit_is_the_exact_minimum_and_weight_zero_leaves_a_point_out() -> None:
    design, labels, _ = toy_classification(30, 3, seed=1)
    theta = fit_logistic(design, labels, l2=0.5)
    prob = 1 / (1 + np.exp(-design @ theta))
    gradient = design.T @ (prob - labels) + 0.5 * theta
    assert np.abs(gradient).max() < 1e-9
    weights = np.ones(30)
    weights[4] = 0.0
    without = fit_logistic(design, labels, l2=0.5, weights=weights, start=theta)
    kept = np.arange(30) != 4
    np.testing.assert_allclose(
        without, fit_logistic(design[kept], labels[kept], l2=0.5), atol=1e-10
    )


def test_removing_a_point_never_lowers_its_own_loss(study) -> None:
    # theta minimises J = J_-i + l_i and theta_-i minimises J_-i, so l_i(theta_-i) >= l_i(theta)
    assert (study.table["loo_effect"] >= -1e-12).all()
    assert study.table["loo_effect"].max() > 0


def test_influence_function_predicts_the_refit(study) -> None:
    table = study.table
    relative = np.abs(table["influence_hessian"] / table["loo_effect"] - 1)
    assert np.median(relative) < 0.2
    correlations = study.correlations().set_index("estimate")["spearman"]
    assert list(correlations.index) == list(ESTIMATES)
    assert correlations.between(-1, 1).all()
    assert correlations["influence_hessian"] > 0.95


def test_self_influence_is_the_subset_fisher_formula(study) -> None:
    design, labels, theta = study.design, study.labels, study.theta
    prob = 1 / (1 + np.exp(-design @ theta))
    gradients = design * (prob - labels)[:, None]
    fisher = (gradients[study.fisher_subset] ** 2).mean(0)
    expected = (gradients**2 / (fisher + 1e-8)).sum(1)
    np.testing.assert_allclose(study.table["self_influence"], expected, rtol=1e-12)
    np.testing.assert_allclose(study.table["loss"], _losses(design, labels, theta))
    assert len(study.fisher_subset) == 30  # half of 60 points


def test_flipped_labels_and_scales_are_as_asked() -> None:
    design, labels, flipped = toy_classification(
        40, 5, label_noise=0.25, scale_range=(0.1, 10.0), seed=0
    )
    assert design.shape == (40, 6) and (design[:, -1] == 1).all()
    assert flipped.sum() == 10 and set(np.unique(labels)) == {0.0, 1.0}
    spread = design[:, :-1].std(0)
    assert spread[-1] / spread[0] > 30  # scales 0.1 ... 10


def test_same_seed_same_study_and_bad_settings_refused() -> None:
    first = leave_one_out_study(n_samples=20, n_features=2, seed=7)
    again = leave_one_out_study(n_samples=20, n_features=2, seed=7)
    assert first.table.equals(again.table)
    with pytest.raises(ValueError, match="label_noise"):
        toy_classification(20, 2, label_noise=0.5)
    with pytest.raises(ValueError, match="n_samples >= 4"):
        toy_classification(3, 2)
    with pytest.raises(ValueError, match="scale_range"):
        toy_classification(20, 2, scale_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="l2"):
        fit_logistic(np.ones((4, 1)), np.array([0.0, 1, 0, 1]), l2=0.0)
    with pytest.raises(ValueError, match="fisher_subset"):
        leave_one_out_study(fisher_subset=0.0)
