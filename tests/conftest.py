"""Shared fixtures and markers of the test suite.

``@pytest.mark.mmseqs`` marks a test that runs the MMseqs2 program: it is
skipped when MMseqs2 is not installed, unless ``BIOCORESET_REQUIRE_MMSEQS=1``
(set by CI, which installs the ``mmseqs`` extra) makes that an error.

The Hugging Face tests skip without ``transformers`` (the ``hf`` extra), unless
``BIOCORESET_REQUIRE_HF=1`` (set by CI) makes a missing ``transformers`` stop the
run before it starts.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import pytest


@functools.cache
def _mmseqs_missing_reason() -> str | None:
    from biocoreset_viz.selection import MMseqsNotFoundError, find_mmseqs

    try:
        find_mmseqs()
    except MMseqsNotFoundError as error:
        return f"MMseqs2 is not installed ({error})"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("BIOCORESET_REQUIRE_HF") == "1" and not importlib.util.find_spec(
        "transformers"
    ):
        raise pytest.UsageError(
            "transformers is not installed, and BIOCORESET_REQUIRE_HF=1 requires the "
            'Hugging Face tests (pip install -e ".[hf]")'
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("mmseqs") is None:
        return
    reason = _mmseqs_missing_reason()
    if reason is None:
        return
    if os.environ.get("BIOCORESET_REQUIRE_MMSEQS") == "1":
        pytest.fail(f"{reason}, and BIOCORESET_REQUIRE_MMSEQS=1 requires the MMseqs2 tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread, and far faster than on two when another
    process keeps the second core busy (thread hand-offs then wait on it)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
