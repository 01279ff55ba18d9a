"""Shared fixtures and tiny configurations used across the test suite."""

from __future__ import annotations

import pytest
import torch

# Test models are tiny: one intra-op thread is fastest for them and avoids OpenMP threads
# spinning against each other when the machine is busy (2 cores here). Tests that spawn
# processes or time things set their own.
torch.set_num_threads(1)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture(autouse=True, scope="session")
def _genzoo_cache(tmp_path_factory: pytest.TempPathFactory):
    """Tests never write to the real ``~/.cache/genzoo``: feature networks (trained by `genzoo
    eval`'s sample quality) go to one directory per session, so they are trained once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENZOO_CACHE", str(tmp_path_factory.mktemp("genzoo-cache")))
        yield
