"""Errors raised on bad input: each names the file, key or subject at fault."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input data or configuration.

    The message always says where the problem is (subject, file, config key)
    and what was expected, so a user can fix the input without a traceback.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        subject: str | None = None,
        key: str | None = None,
    ) -> None:
        where = []
        if subject is not None:
            where.append(f"subject {subject}")
        if path is not None:
            where.append(f"file {path}")
        if key is not None:
            where.append(f"key {key!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path = None if path is None else str(path)
        self.subject = subject
        self.key = key


class ConfigError(InputError):
    """Bad configuration: the message names the key and the expected value."""
