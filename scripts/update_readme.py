"""Regenerate the generated sections of README.md.

    python scripts/update_readme.py          # rewrite README.md in place
    python scripts/update_readme.py --check  # exit 1 if README.md is stale (used by a test)

Sections between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` markers are
produced by code: the case-file reference from ``pnp.input.key_reference.schema_reference()``
(the one table of defaults), and the performance table from the benchmark
JSON files when present.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def sections() -> dict[str, str]:
    from pnp.input.key_reference import schema_reference

    out = {"case-reference": schema_reference().strip()}
    for name, file in (("performance", "performance.md"), ("stress", "stress.md")):
        path = ROOT / "benchmarks" / file
        if path.exists():
            out[name] = path.read_text().strip()
    return out


def render(text: str) -> str:
    for name, body in sections().items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
        text, n = pattern.subn(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
        if n != 1:
            raise SystemExit(f"README.md has no (or several) {name} markers")
    return text


def main() -> int:
    old = README.read_text()
    new = render(old)
    if "--check" in sys.argv:
        if new != old:
            print("README.md is stale: run python scripts/update_readme.py")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
