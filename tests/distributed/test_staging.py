"""Staging the Ray engine's input: streamed into the local engine's pool, reused, ids unique."""

from __future__ import annotations

import numpy as np
import pytest
from support.distributed import N_SEQUENCES, SHARD_SIZE

from biocoreset_viz.distributed import stage_inputs
from biocoreset_viz.errors import InputError
from biocoreset_viz.influence import input_fingerprint
from biocoreset_viz.sequences import read_sequences


def test_staging_streams_sharded_input_into_the_local_engines_pool(tmp_path, pool_files):
    staged = stage_inputs(pool_files["sharded"], tmp_path, shard_size=SHARD_SIZE, progress=False)
    local = read_sequences(pool_files["single"])
    assert staged.count == len(local) == N_SEQUENCES
    assert staged.sha256 == input_fingerprint(local)
    assert staged.molecule == "rna" and staged.label_columns == ["family"]
    np.testing.assert_array_equal(staged.lengths, local.lengths)
    assert staged.n_parts == 8 and len(list((tmp_path / "inputs").glob("part-*.parquet"))) == 8
    indices, part = staged.part_sequences(3)
    np.testing.assert_array_equal(indices, np.arange(24, 32))  # crosses the CSV/Parquet border
    assert part.ids == local.ids[24:32] and part.sequences == local.sequences[24:32]
    assert part.labels["family"].tolist() == local.labels["family"].tolist()[24:32]
    subset = staged.subset(np.array([0, 7, 8, 59]))
    assert subset.ids == ["r0", "r7", "r8", "r59"]
    assert subset.sequences == [local.sequences[i] for i in (0, 7, 8, 59)]


def test_staging_is_reused_until_an_input_file_changes(tmp_path, pool_files):
    inputs = [tmp_path / "a.fa", tmp_path / "b.fa"]
    inputs[0].write_text(">x\nACGU\n>y\nGGGA\n")
    inputs[1].write_text(">z\nACGUACGU\n")
    first = stage_inputs(inputs, tmp_path / "run", shard_size=2, progress=False)
    summary = tmp_path / "run" / "inputs" / "summary.json"
    stamp = summary.stat().st_mtime_ns
    again = stage_inputs(inputs, tmp_path / "run", shard_size=2, progress=False)
    assert again == first and summary.stat().st_mtime_ns == stamp
    inputs[1].write_text(">z\nACGUACGUAA\n")
    changed = stage_inputs(inputs, tmp_path / "run", shard_size=2, progress=False)
    assert changed.sha256 != first.sha256
    assert changed.lengths.tolist() == [4, 4, 10]


def test_staging_refuses_an_id_used_in_two_files(tmp_path):
    (tmp_path / "a.fa").write_text(">x\nACGU\n>y\nGGGA\n")
    (tmp_path / "b.fa").write_text(">q\nACGU\n>y\nACGUACGU\n")
    with pytest.raises(InputError, match=r"duplicate id across the input files \(record 'y'\)"):
        stage_inputs(
            [tmp_path / "a.fa", tmp_path / "b.fa"], tmp_path / "run", shard_size=3, progress=False
        )
