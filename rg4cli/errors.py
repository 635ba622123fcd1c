"""Errors every command turns into one line on stderr and an exit status.

InputError (exit 2) is for what the user can fix: a bad file, line or field.
Rg4Error (exit 1) is for runtime failures: a model that cannot load, a server that
keeps failing. Core modules raise these; only the CLI layer prints them.
"""

from __future__ import annotations


class Rg4Error(Exception):
    """A runtime failure (exit status 1)."""

    exit_code = 1


class InputError(Rg4Error):
    """Bad input the user can fix (exit status 2): names file, line and field."""

    exit_code = 2

    def __init__(self, problem: str, *, source: str | None = None, line: int | None = None, field: str | None = None):
        self.problem = problem
        self.source = source
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = self.source + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.problem}"
