"""Typed exceptions raised for user-facing problems.

Every error a user can cause (a bad flag, a missing file, an unknown model) is a subclass of
:class:`GenzooError`; its message says what was wrong and what to do. The CLI prints the message
on one line and exits with status 2. Bugs inside genzoo are *not* ``GenzooError`` and keep their
traceback.
"""

from __future__ import annotations


class GenzooError(Exception):
    """Base class of every user-facing error raised by genzoo."""


class ConfigError(GenzooError, ValueError):
    """An argument, hyper-parameter or option has an invalid value."""


class DatasetError(GenzooError):
    """A dataset cannot be found, read, downloaded or verified."""


class ModelError(GenzooError):
    """A model name, saved model directory or model input is invalid."""


class UnsupportedError(GenzooError, NotImplementedError):
    """The requested operation is not offered by this model (e.g. ``log_prob`` of a GAN)."""


class TrainingError(GenzooError):
    """Training cannot continue (non-finite loss, unusable checkpoint, ...)."""


class StorageError(GenzooError, OSError):
    """A file cannot be written (full disk, read-only folder); the previous version is intact."""
