"""A Ctrl-C remembered until a run or sweep takes SIGINT over.

Python turns SIGINT into a KeyboardInterrupt raised wherever the main
thread is, and some places drop it: a weakref callback or ``__del__``
(printed as "Exception ignored"), or C code that clears whatever error it
met. A Ctrl-C pressed while a command starts up (imports, the case, the
mesh) could so be lost, and the run went on to the end and exited 0 (found
by the slow kill tests). ``pnp``'s command line therefore installs
:func:`handler`, which records the Ctrl-C before raising: a run's or
sweep's own SIGINT handler, installed later, asks :func:`seen` with the
handler it replaces and stops at once if a Ctrl-C came before, and the
command line reports an interruption even when the KeyboardInterrupt was
dropped. Where Python reports the drop (``sys.unraisablehook``), the
command line also raises it again at once (:func:`raised_again`), so the
command stops there rather than at the run's first step or its end.
Outside the command line (``pnp.run`` from Python) nothing here is
installed and nothing changes.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys


class Latch:
    """Whether :func:`handler` has seen a Ctrl-C in this process."""

    hit = False


def handler(signum, frame):
    """SIGINT while no run or sweep has taken it over: remembered, then
    raised as Python's own handler does."""
    Latch.hit = True
    raise KeyboardInterrupt


def install():
    """:func:`handler` for SIGINT, in place of Python's default one only (a
    SIGINT ignored by the parent, as for a background job, stays ignored).
    Returns the handler replaced, or None if none was."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None
    Latch.hit = False
    return signal.signal(signal.SIGINT, handler)


def seen(replaced) -> bool:
    """Whether the SIGINT handler ``replaced`` (as ``signal.signal``
    returned it) is :func:`handler` and has seen a Ctrl-C."""
    return replaced is handler and Latch.hit


@contextlib.contextmanager
def raised_again():
    """Raise again a Ctrl-C that Python would swallow.

    A KeyboardInterrupt raised where Python cannot propagate it (a weakref
    callback, as in importlib's module locks while the command imports its
    modules, a ``__del__``, a garbage collection) is printed as "Exception
    ignored" and dropped. While this is active, such an interrupt is sent
    again to the main thread (``_thread.interrupt_main``) from a new thread,
    which runs once the main thread next gives up the interpreter, back in
    ordinary code (sent from the hook itself, or a thread the hook waits
    for, it would be raised in the hook and dropped again; should it land in
    another such place, it is sent again). The SIGINT handler then in force
    acts on it: :func:`handler` raises KeyboardInterrupt (exit 130); a run's
    or sweep's own handler stops it as it stops any Ctrl-C.
    """
    previous = sys.unraisablehook

    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _thread.start_new_thread(_thread.interrupt_main, ())  # not waited for
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
