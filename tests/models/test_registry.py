"""Model names, paths and folders to loaded models; what is said when a model is absent."""

from __future__ import annotations

import pytest

from biocoreset_viz.errors import InputError, ModelNotFoundError
from biocoreset_viz.models import known_models, load_model, model_catalogue, model_path

NEW_NAMES = ("sapiens-vh", "sapiens-vl", "esmc_300m", "esmc_600m", "facebook/esm2_t6_8M_UR50D")


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ModelNotFoundError) as raised:
        load_model("esm3_large")
    message = str(raised.value)
    assert message.startswith("unknown model 'esm3_large'; known names: demo-rna, demo-protein")
    assert all(name in message for name in known_models())


def test_missing_path_is_reported():
    with pytest.raises(ModelNotFoundError, match=r"no model checkpoint at /nowhere/model\.pt"):
        load_model("/nowhere/model.pt")


def test_missing_demo_model_file_says_how_to_restore_it(monkeypatch):
    import biocoreset_viz.models as models

    monkeypatch.setitem(models.DEMO_MODELS, "demo-rna", "absent_model.pt")
    with pytest.raises(ModelNotFoundError, match="train_demo_models.py"):
        model_path("demo-rna")


def test_every_family_has_its_names_listed():
    catalogue = model_catalogue()
    assert set(NEW_NAMES) <= set(catalogue)
    assert {known.family for known in catalogue.values()} == {
        "fair-esm",
        "fairseq-roberta",
        "esmc",
        "huggingface",
    }
    assert catalogue["esmc_300m"].default_target == "sequence_head.0.weight"
    assert catalogue["sapiens-vh"].molecule == "protein"
    assert catalogue["demo-rna"].molecule == "rna"


def test_bundled_models_are_present_and_the_others_absent_here():
    catalogue = model_catalogue()
    present = {name for name, known in catalogue.items() if known.weights_present()}
    assert present == {"demo-rna", "demo-protein", "sapiens-vh", "sapiens-vl"}


def test_unknown_name_lists_the_new_names_too():
    with pytest.raises(ModelNotFoundError) as raised:
        load_model("sapiens")
    assert all(name in str(raised.value) for name in NEW_NAMES)


def test_a_hub_name_not_in_the_cache_says_where_its_files_must_be(hf_cache):
    with pytest.raises(ModelNotFoundError) as raised:
        load_model("someone/protein-bert")
    message = str(raised.value)
    assert "someone/protein-bert is not in the Hugging Face cache at" in message
    assert str(hf_cache / "models--someone--protein-bert") in message
    assert "save_pretrained" in message and "nothing is downloaded" in message


def test_a_relative_file_path_is_not_taken_for_a_hub_name():
    with pytest.raises(ModelNotFoundError, match=r"no model checkpoint at models/m\.pt"):
        model_path("models/m.pt")


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(InputError, match="not a model folder: it has no config.json"):
        load_model(tmp_path)


def test_model_path_of_a_bundled_name_is_its_file():
    assert model_path("sapiens-vh").name == "sapiens_vh.pt"
