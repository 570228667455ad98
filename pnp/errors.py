"""Exceptions of pnp: every user-facing failure is one of these."""

from __future__ import annotations


class PnpError(Exception):
    """Base class of every error pnp raises on purpose."""


class CaseError(PnpError, ValueError):
    """A case file or override is invalid.

    The message names the file, the dotted key path and what is allowed.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        where = ""
        if file:
            where += f"{file}: "
        if key:
            where += f"`{key}`: "
        super().__init__(where + message)


class ResultFileError(PnpError, ValueError):
    """A file is not a readable pnp result (wrong format, version or damaged)."""


class SolverError(PnpError, RuntimeError):
    """The solver could not reach a solution (the partial result is kept)."""
