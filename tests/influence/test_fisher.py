"""The diagonal Fisher's file: saved and loaded with its fingerprint and subset."""

from __future__ import annotations

from support.influence import random_pool, tiny_esm2

from biocoreset_viz.influence import DiagonalFisher, InfluenceConfig, fit_fisher
from biocoreset_viz.models import rna_alphabet


def test_fisher_save_load_round_trip(tmp_path):
    model, alphabet, pool = tiny_esm2(), rna_alphabet(), random_pool(5, 3, 20)
    fisher = fit_fisher(
        model,
        pool,
        InfluenceConfig(dtype="float64", fisher_subset=5),
        alphabet=alphabet,
        progress=False,
    )
    path = fisher.save(tmp_path / "fisher.pt")
    assert DiagonalFisher.exists(path)
    loaded = DiagonalFisher.load(path)
    assert loaded.fingerprint() == fisher.fingerprint()
    assert loaded.metadata["subset_ids"] == pool.ids
