"""Fixtures of the training tests: the digits and a small subset of them."""

from __future__ import annotations

import pytest

import genzoo
from genzoo.data import Dataset

from .helpers import subset


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return genzoo.load_dataset("digits")


@pytest.fixture(scope="session")
def small(digits: Dataset) -> Dataset:
    """100 training and 20 test digits: 6 batches of 16 per epoch."""
    return subset(digits, 100, 20)
