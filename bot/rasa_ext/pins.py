"""What each patch was checked against: library versions and the replaced functions' source.

pins.yml is written by `python -m bot.rasa_ext --write-pins` after a person has re-read each
replaced function and its patch; `problems()` compares it with the installed libraries
(tests/unit/test_rasa_ext_pins.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import yaml

from bot.rasa_ext import describe_all, registry

PINS_FILE = Path(__file__).with_name("pins.yml")
HEADER = ("# Written by `python -m bot.rasa_ext --write-pins` after re-reading each replaced function\n"
          "# and its patch (bot/rasa_ext/). tests/unit/test_rasa_ext_pins.py fails when an installed\n"
          "# library or a replaced function's source differs from what is recorded here.\n")


def current() -> Dict[str, Any]:
    patches = describe_all()
    libraries = sorted({lib for p in patches for lib in p.libraries})
    return {
        "libraries": {lib: registry.library_version(lib) for lib in libraries},
        "patches": {p.name: {"replaces": p.replaces, "source_sha256": p.source_sha256()} for p in patches},
    }


def load(path: Path = PINS_FILE) -> Dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def problems(pinned: Dict[str, Any]) -> List[str]:
    """One sentence per difference, each naming the patch(es) to re-check."""
    now, found = current(), []
    patches = {p.name: p for p in describe_all()}
    pinned_libraries = pinned.get("libraries") or {}
    for library, version in now["libraries"].items():
        if pinned_libraries.get(library) != version:
            names = sorted(n for n, p in patches.items() if library in p.libraries)
            found.append(f"{library} is {version} but the patches were checked against "
                         f"{pinned_libraries.get(library)}: re-check {', '.join(names)}")
    pinned_patches = pinned.get("patches") or {}
    for name, now_pin in now["patches"].items():
        was = pinned_patches.get(name)
        module = patches[name].module.replace(".", "/") + ".py"
        if was is None:
            found.append(f"patch {name} ({module}) has no pin: re-read {now_pin['replaces']} and pin it")
        elif was.get("replaces") != now_pin["replaces"]:
            found.append(f"patch {name} ({module}) now replaces {now_pin['replaces']}, pinned as "
                         f"{was.get('replaces')}: re-check it")
        elif was.get("source_sha256") != now_pin["source_sha256"]:
            found.append(f"the source of {now_pin['replaces']} changed since patch {name} ({module}) "
                         f"was written against it: re-read it, re-check the patch, then --write-pins")
    for name in sorted(set(pinned_patches) - set(now["patches"])):
        found.append(f"pins.yml pins {name}, which is no longer a registered patch: remove it")
    return found


def write(path: Path = PINS_FILE) -> None:
    path.write_text(HEADER + yaml.safe_dump(current(), sort_keys=True, width=120))
