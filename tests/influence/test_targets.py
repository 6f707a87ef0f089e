"""Target specifications: an unknown one lists the presets and the parameters."""

from __future__ import annotations

import pytest
from support.influence import tiny_esm2

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.influence import resolve_targets


def test_unknown_target_lists_the_available_names():
    with pytest.raises(ConfigError) as info:
        resolve_targets(tiny_esm2(), "lm_head.dense.weights")
    message = str(info.value)
    assert "unknown target 'lm_head.dense.weights'" in message
    assert (
        "last_block" in message and "layers.<i>.fc1.weight" in message and "(i = 0..1)" in message
    )
