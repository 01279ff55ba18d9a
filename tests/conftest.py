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
