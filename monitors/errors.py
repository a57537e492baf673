"""The exceptions that monitors raise. Every message names what was wrong and how to fix it."""

from __future__ import annotations


class MonitorError(Exception):
    """Base class for errors raised by :mod:`monitors`."""


class SourceError(MonitorError):
    """A stream source could not be read (missing file, unreadable format, bad column)."""


class ValidationError(MonitorError, ValueError):
    """A batch failed validation: names the column(s) and the row range."""

    def __init__(self, message: str, *, columns: list[str] | None = None,
                 start: int | None = None, end: int | None = None) -> None:
        super().__init__(message)
        self.columns = columns or []
        self.start = start
        self.end = end


class DriftCheckError(MonitorError):
    """A data-drift or concept-drift check failed unexpectedly."""
