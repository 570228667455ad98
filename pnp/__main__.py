"""``python -m pnp``: the ``pnp`` command (:mod:`pnp.presentation.cli`)."""

from __future__ import annotations

import sys

from pnp.presentation.cli import main

if __name__ == "__main__":
    sys.exit(main())
