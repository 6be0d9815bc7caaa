"""Regenerate docs/scenario-reference.md from the scenario schema.

Usage::

    python docs/generate_reference.py          # write the file
    python docs/generate_reference.py --check  # exit 1 if the committed file is stale
"""

import sys
from pathlib import Path

from simulator.config import reference_markdown, write_reference

REFERENCE = Path(__file__).resolve().parent / "scenario-reference.md"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
        if current != reference_markdown():
            print(f"{REFERENCE.name} is out of date: run python docs/generate_reference.py", file=sys.stderr)
            return 1
        return 0
    write_reference(REFERENCE)
    print(f"wrote {REFERENCE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
