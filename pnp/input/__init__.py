"""Stage 1, input: a case file (TOML) or a dict -> a validated :class:`~pnp.input.case.Case`.

In: a case file path or mapping, and optional dotted overrides. Out: a
frozen ``Case`` in SI units (``case.py``: schema, validation, loading;
``units.py``: quantities with units such as ``"150 mM"``). Nothing here
builds a mesh or imports numba.
"""
