"""The Ray engine on the other model families: the same scores as the local engine.

The pretrained Sapiens model (fairseq RoBERTa) by name, and a Hugging Face masked LM
from a ``save_pretrained`` folder, each scored on 40 antibody germlines by both
engines at one thread: equal scores, losses, embeddings and identity. Runs on a
local 2-CPU Ray cluster; skips without Ray (fails with BIOCORESET_REQUIRE_RAY=1).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch
from support.models import hf_model, hf_tokenizer

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.distributed import RayOptions, score_with_ray
from biocoreset_viz.influence import FinetuneSettings, InfluenceConfig, score_run


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        import ray
    except ImportError:
        if os.environ.get("BIOCORESET_REQUIRE_RAY"):
            raise
        pytest.skip('Ray is not installed: pip install "biocoreset_viz[distributed]"')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def antibodies(tmp_path_factory):
    """40 germlines (heavy and light chains, three species) as a CSV with labels."""
    demo = load_demo("antibody")
    frame = demo.to_frame()
    human_heavy = np.flatnonzero((frame["chain"] == "heavy") & (frame["species"] == "human"))
    mouse_heavy = np.flatnonzero((frame["chain"] == "heavy") & (frame["species"] == "mouse"))
    lambdas = np.flatnonzero(frame["chain"] == "lambda")
    picks = np.sort(np.concatenate([human_heavy[:15], mouse_heavy[:15], lambdas[:10]]))
    path = tmp_path_factory.mktemp("pool") / "antibodies.csv"
    frame.iloc[picks][["id", "sequence", "chain", "species"]].to_csv(path, index=False)
    return path


def hugging_face_folder(folder):
    tokenizer = hf_tokenizer("hf-esm", folder / "tokenizer-files")
    model = hf_model("hf-esm", tokenizer)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["sapiens-vh", "hf-esm"])
def test_ray_scores_equal_the_local_engine_for_another_family(
    ray_cluster, antibodies, tmp_path, kind
):
    if kind == "hf-esm":
        if importlib.util.find_spec("transformers") is None:
            pytest.skip("transformers is not installed")
        model = str(hugging_face_folder(tmp_path / "model"))
    else:
        model = kind
    from biocoreset_viz.sequences import read_sequences

    config = InfluenceConfig(shard_size=10, fisher_subset=12, device="cpu", max_tokens=600)
    finetune = FinetuneSettings(epochs=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the actors' thread count: CPU products round with it
    try:
        local = score_run(read_sequences(antibodies), model, tmp_path / "local", config,
                          finetune_settings=finetune, progress=False)  # fmt: skip
        ray = score_with_ray(antibodies, model, tmp_path / "ray", config, finetune_settings=finetune,
                             options=RayOptions(num_actors=2, cpus_per_actor=1),
                             progress=False)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert ray.manifest["engine"]["name"] == "ray"
    assert ray.manifest["model"]["family"] == local.manifest["model"]["family"]
    assert ray.manifest["model"]["family"] == (
        "fairseq-roberta" if kind == "sapiens-vh" else "huggingface"
    )
    assert ray.manifest["identity"] == local.manifest["identity"]
    assert ray.ids.tolist() == local.ids.tolist() and len(ray) == 40
    np.testing.assert_array_equal(ray.scores, local.scores)
    np.testing.assert_array_equal(ray.frame["loss"], local.frame["loss"])
    np.testing.assert_array_equal(ray.embeddings, local.embeddings)
    assert ray.frame["species"].tolist() == local.frame["species"].tolist()
