"""Error messages of the case loader: one printable line, clipped, with a suggestion.

Owns how a `CaseError` about user input is worded and made safe: the
message, file name and key quote what the user wrote, so they are escaped
to one printable line and clipped (`case_error`); a misspelt name gets the
closest known one (`suggest`). A `CaseWarning` reaches people as one line,
``pnp: warning: FILE: `KEY`: MESSAGE`` (`show_case_warnings_as_lines`).
"""

from __future__ import annotations

import difflib
import sys
import warnings
from typing import Any

from ..errors import CaseError

__all__ = [
    "case_error",
    "clip",
    "join_key",
    "printable",
    "show",
    "show_case_warnings_as_lines",
    "suggest",
    "unknown",
]

# Longest key path and message an error shows (user input is quoted in them).
_MAX_KEY_SHOWN = 120
_MAX_MESSAGE = 1000


def printable(text: str | None) -> str | None:
    """``text`` with line breaks and other control characters escaped (``\\n``).

    Error messages quote what the user wrote (values, key names, file
    names); they must stay one line.
    """
    if text is None or text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def case_error(message: str, *, file: str | None = None, key: str | None = None) -> CaseError:
    """A `CaseError` whose message, file and key are printable one-liners."""
    if key == "":
        key = '""'  # an empty TOML key, as TOML writes it
    return CaseError(
        clip(printable(message), _MAX_MESSAGE),
        file=printable(file),
        key=clip(printable(key), _MAX_KEY_SHOWN),
    )


def clip(text: str | None, limit: int) -> str | None:
    """At most ``limit`` characters: a 500 kB key name is not repeated in full."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def suggest(name: str, candidates: Any) -> str:
    candidates = [str(c) for c in candidates]
    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    if len(candidates) <= 20:
        return "allowed: " + ", ".join(f"`{c}`" for c in candidates)
    return f"none of the {len(candidates)} known names is close"


def join_key(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def unknown(name: str, candidates: Any, key: str, file: str | None, what: str = "key") -> CaseError:
    return case_error(f"unknown {what} `{name}`; {suggest(name, candidates)}", file=file, key=key)


def show_case_warnings_as_lines() -> None:
    """From now on, print each `CaseWarning` as one line on stderr, once per message.

    ``pnp: warning: FILE: `KEY`: MESSAGE``, without the file and line of pnp's
    code that issued it and the source line Python's own display adds, and
    whatever the warning filters said (``-W error`` included): for people
    reading a case's problems, not for a program's caller. Other warnings
    are shown as before. Undo it with ``warnings.catch_warnings()`` around
    the call (the ``pnp`` command does); sweep workers keep it.
    """
    from .case import CaseWarning  # deferred: case.py imports this module's neighbours

    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, CaseWarning):
            previous(message, category, filename, lineno, file, line)
            return
        try:
            print(f"pnp: warning: {message}", file=sys.stderr, flush=True)
        except (OSError, ValueError):  # no stderr to write to: nothing to say it with
            pass

    warnings.filterwarnings("default", category=CaseWarning)
    warnings.showwarning = show
