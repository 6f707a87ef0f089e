"""One writer per run directory: the lock, its record, a refused second writer, a dead one's taken over."""

from __future__ import annotations

import json
import logging
import os
import signal

import pytest
from support.runs import holder

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.run_lock import RunLock, run_writer


def test_the_lock_records_its_writer_and_is_reentrant(tmp_path):
    with RunLock(tmp_path):
        record = json.loads((tmp_path / ".lock").read_text())
        assert record["pid"] == os.getpid() and record["host"] and record["started"]
        with RunLock(tmp_path):  # the pipeline and its engine both hold it
            pass
        assert run_writer(tmp_path).pid == os.getpid()
    assert (tmp_path / ".lock").read_bytes() == b""  # released, not died
    assert run_writer(tmp_path) is None


def test_a_second_writer_is_refused_naming_the_first_and_a_dead_ones_lock_taken_over(
    tmp_path, caplog
):
    first = holder(tmp_path)
    try:
        with pytest.raises(RunDirectoryError) as refused:
            RunLock(tmp_path).acquire()
        message = str(refused.value)
        assert f"is being written by process {first.pid} on " in message
        assert "one writer per run directory" in message and "\n" not in message
        assert run_writer(tmp_path).pid == first.pid
    finally:
        first.send_signal(signal.SIGKILL)  # dies holding it, as a killed scorer does
        first.wait()
    assert run_writer(tmp_path) is None  # its process is gone
    with caplog.at_level(logging.WARNING), RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert f"taking over the writer lock of process {first.pid}" in caplog.text
