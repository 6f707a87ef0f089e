"""The scikit-learn shape of every selector: parameters stored untouched, get/set_params, repr."""

from __future__ import annotations

import pytest

from biocoreset_viz.selection import (
    CoverageCentric,
    TopInfluence,
)


def test_parameters_are_stored_untouched_and_round_trip() -> None:
    selector = CoverageCentric(pruning_rate=2.0, n_strata="many")  # checked only by fit
    assert selector.get_params()["pruning_rate"] == 2.0
    selector.set_params(pruning_rate=0.9, n_strata=10)
    assert selector.get_params() == {
        "pruning_rate": 0.9,
        "n_select": None,
        "hard_cutoff": 0.1,
        "n_strata": 10,
        "strata": "equal_width",
        "random_state": None,
    }
    assert repr(selector) == "CoverageCentric(pruning_rate=0.9, n_strata=10)"
    with pytest.raises(ValueError, match="no parameter 'alpha'"):
        selector.set_params(alpha=0.5)


def test_unfitted_selector_has_no_selection() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        TopInfluence(n_select=1).to_selection()
