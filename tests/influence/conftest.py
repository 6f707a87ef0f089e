"""Fixtures of the scoring tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def float64_softmax(monkeypatch):
    """fair-esm computes attention probabilities in float32 even for float64 models;
    the brute-force reference keeps them in float64 so the comparison is exact math."""
    import esm.multihead_attention as attention

    monkeypatch.setattr(attention, "utils_softmax", lambda x, dim, onnx_trace=False: x.softmax(dim))
