"""Errors for bad input data: each names the file, the column and what was expected."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset file or folder does not have the expected layout, columns or types."""
