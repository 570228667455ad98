"""``python -m pnp``: the ``pnp`` command (:mod:`pnp.presentation.cli`)."""

from __future__ import annotations

import sys

from pnp import ctrl_c

if __name__ == "__main__":
    # before the command line's own imports: a Ctrl-C among them is remembered
    # too (pnp.ctrl_c; ``main`` installs it where this module does not run)
    ctrl_c.install()

from pnp.presentation.cli import main

if __name__ == "__main__":
    sys.exit(main())
