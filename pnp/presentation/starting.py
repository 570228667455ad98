"""Starting points: ``pnp keys`` (the case-file reference) and ``pnp new`` (a template).

``pnp keys [SECTION]`` prints the key reference generated from the schema
(:func:`pnp.input.key_reference.keys_text`); ``pnp new KIND FILE`` writes a
commented case file to edit, one of :data:`TEMPLATE_KINDS`, read from
``pnp/input/templates/KIND.toml`` (package data). Neither imports anything
that compiles (numba) or reads HDF5.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import CaseError

#: The kinds of ``pnp new``, each a template file of the same name.
TEMPLATE_KINDS = ("rest", "donnan", "iv", "clamp-step", "double-layer", "volume")


def add_arguments(sub) -> None:
    """The ``keys`` and ``new`` subparsers."""
    import argparse

    from ..input.key_reference import SECTION_NAMES

    k = sub.add_parser("keys", help="print the case-file keys (all sections, or one)")
    k.add_argument("section", nargs="?", metavar="SECTION", help=", ".join(SECTION_NAMES))
    k.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    n = sub.add_parser("new", help="write a commented case file to start from")
    n.add_argument("kind", metavar="KIND", help=", ".join(TEMPLATE_KINDS))
    n.add_argument("file", metavar="FILE")
    n.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    n.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def template_text(kind: str) -> str:
    """The commented case file of ``kind`` (one of :data:`TEMPLATE_KINDS`).

    Raises
    ------
    CaseError
        ``kind`` is not a template kind.
    """
    if kind not in TEMPLATE_KINDS:
        raise CaseError(f"unknown kind {kind!r}; kinds: {', '.join(TEMPLATE_KINDS)}")
    return resources.files("pnp.input").joinpath("templates", f"{kind}.toml").read_text("utf-8")


def cmd_keys(args) -> int:
    """``pnp keys [SECTION]``: 0, or 2 for an unknown section."""
    from ..input.key_reference import SECTION_NAMES, keys_text

    if args.section is not None and args.section not in SECTION_NAMES:
        raise CaseError(f"unknown section {args.section!r}; sections: {', '.join(SECTION_NAMES)}")
    print(keys_text(args.section))
    return 0


def cmd_new(args) -> int:
    """``pnp new KIND FILE``: 0, or 2 for an unknown kind or an existing FILE."""
    text = template_text(args.kind)
    target = Path(args.file)
    if target.is_dir():
        raise CaseError(f"{target} is a directory; give a file name such as {args.kind}.toml")
    if target.exists() and not args.force:
        raise CaseError(f"{target} exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_filled(text, target), encoding="utf-8")
    print(f"wrote {target} ({args.kind}); check it with: pnp check {target}")
    return 0


def _filled(text: str, target: Path) -> str:
    """The template with its comments naming ``target``: FILE (in the commands
    shown) and STEM (the default result file's name)."""
    import shlex

    lines = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#"):
            line = line.replace("FILE", shlex.quote(str(target))).replace("STEM", target.stem)
        lines.append(line)
    return "".join(lines)
