"""Errors a user can act on. The CLI turns each into one line and exit code 1."""

from __future__ import annotations


class InvestError(Exception):
    """Base class: the message names the problem and how to fix it."""


class ConfigError(InvestError):
    """A bad value in params.yaml or on the command line."""


class DataError(InvestError):
    """Raw files, the database or a checkpoint are missing, malformed or inconsistent."""


class FetchError(InvestError):
    """A data source could not deliver what was asked for."""


class DeviceError(InvestError):
    """The requested compute device is not available."""


class OutputError(InvestError):
    """An output could not be written (disk full, no permission, a file in the way); nothing was replaced."""
