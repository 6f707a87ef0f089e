"""The Ray engine's input readers: folders and globs in name order, Parquet validated."""

from __future__ import annotations

import pandas as pd
import pytest

from biocoreset_viz.distributed import expand_inputs, stage_inputs
from biocoreset_viz.errors import InputError


def test_parquet_input_is_validated(tmp_path):
    pd.DataFrame({"name": ["a"], "seq": ["AC#U"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"invalid rna characters '#' \(record 'a'\)"):
        stage_inputs(
            tmp_path / "bad.parquet", tmp_path / "run", shard_size=2, molecule="rna", progress=False
        )
    pd.DataFrame({"id": ["a"], "letters": ["ACGU"]}).to_parquet(tmp_path / "none.parquet")
    with pytest.raises(InputError, match="no sequence column"):
        stage_inputs(tmp_path / "none.parquet", tmp_path / "run2", shard_size=2, progress=False)


def test_inputs_expand_folders_and_globs_in_name_order(tmp_path):
    for name in ("b.fa", "a.parquet", "c.txt.gz", ".hidden.fa", "notes.md"):
        (tmp_path / name).write_text("")
    assert [p.name for p in expand_inputs(tmp_path)] == ["a.parquet", "b.fa", "c.txt.gz"]
    assert [p.name for p in expand_inputs(str(tmp_path / "*.fa"))] == ["b.fa"]
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs(str(tmp_path / "*.fasta"))
    with pytest.raises(InputError, match="no such file"):
        expand_inputs(tmp_path / "missing.fa")
