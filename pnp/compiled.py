"""numba's ``njit`` for pnp's compiled modules, with one cache stamp for them all.

numba's cache (``cache=True``) keys a function's stored machine code to its
own source file: the code is loaded again as long as that file is unchanged.
But a compiled function carries in its machine code every compiled function
it calls from other modules and every module constant it reads (numba
freezes globals at compile time). After an edit elsewhere, as a ``git pull``
in the editable install the README's quick start makes, a caller whose own
file did not change was loaded with the old code of what it calls: the
stored bdf_step would have gone on factoring with an earlier banded.py.

Importing ``njit`` from here instead of from numba registers, once, cache
locators that stamp every pnp function with the contents of all the files
compiled code can depend on (:data:`WATCHED`: ``pnp/constants.py`` and
every module of ``pnp/discretisation`` and ``pnp/solvers``, where all the
compiled modules and the constants they read live). A change to any of
them makes every pnp function compile once more; other code is untouched.
The stamp is the SHA-256 of those files' paths and contents, computed once
per process.
Functions outside pnp keep numba's own locators.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba import njit
from numba.core import caching

__all__ = ["WATCHED", "njit", "source_stamp"]

PACKAGE = Path(__file__).resolve().parent
#: What compiled code can depend on, relative to the package.
WATCHED = ("constants.py", "discretisation", "solvers")


def _watched_files() -> list[Path]:
    files = []
    for name in WATCHED:
        path = PACKAGE / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def source_stamp() -> str:
    """The stamp of the watched files as they are now: the SHA-256 of their
    paths and contents (hex)."""
    digest = hashlib.sha256()
    for path in _watched_files():
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


#: :func:`source_stamp` as this process imports pnp's compiled modules (this
#: module is imported by the first of them): the code a process compiles is
#: the code it imported, so a file edited while it runs must not stamp that
#: code as new (the next process compiles it again). Once per process: numba
#: asks at every load and store, and the stamp costs ~1 ms.
PROCESS_STAMP = source_stamp()


def _inside(py_file: str) -> bool:
    try:
        Path(py_file).resolve().relative_to(PACKAGE)
    except ValueError:
        return False
    return True


def _stamped(base):
    """``base`` (one of numba's file-backed locators) for pnp's functions,
    with :data:`PROCESS_STAMP` as the stamp."""

    class Stamped(base):
        def get_source_stamp(self):
            return PROCESS_STAMP

        @classmethod
        def from_function(cls, py_func, py_file):
            if not _inside(py_file):
                return None
            return super().from_function(py_func, py_file)

    Stamped.__name__ = Stamped.__qualname__ = f"Pnp{base.__name__.lstrip('_')}"
    return Stamped


def _register() -> None:
    # recent numba (0.68) names these without the leading underscore, older with it
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    if getattr(impl, "pnp_stamped", False):
        return
    names = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")
    bases = [getattr(caching, n, None) or getattr(caching, "_" + n) for n in names]
    impl._locator_classes = [*map(_stamped, bases), *impl._locator_classes]
    impl.pnp_stamped = True


_register()
