"""The bundled demo's reports, as the library makes them (``biocoreset demo`` prints them)."""

from __future__ import annotations

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.demo import dataset_report, model_report


def test_the_demo_reports_are_lines_of_text():
    sequences = load_demo("rna_structures")
    lines = dataset_report("rna_structures", sequences)
    assert lines[0].startswith("dataset            rna_structures: ")
    assert "records            485" in lines and lines[-1] == "labels             structure, split"
    model = model_report("demo-rna", sequences, "rna_structures", sample_size=8, seed=0)
    assert len(model) == 2 and model[0].startswith("model              demo-rna: ")
    assert "nats on 8 sequences it was not trained on" in model[1]
