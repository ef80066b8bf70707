"""`python -m bot.rasa_ext`: every patch with what it replaces and why, and whether the pins
still hold; `--write-pins` records the installed versions and sources (after re-reading them)."""
from __future__ import annotations

import argparse
import sys

from bot.rasa_ext import describe_all, pins


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.rasa_ext", description=__doc__)
    parser.add_argument("--write-pins", action="store_true", help="record the installed versions and sources")
    args = parser.parse_args()
    if args.write_pins:
        pins.write()
        print(f"wrote {pins.PINS_FILE}")
        return 0
    for patch in describe_all():
        print(f"{patch.name} [{patch.kind}, {patch.process} process]\n  replaces {patch.replaces} "
              f"({', '.join(patch.libraries)})\n  in {patch.module}\n  why: {patch.why}\n")
    found = pins.problems(pins.load())
    for problem in found:
        print(f"PIN: {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
