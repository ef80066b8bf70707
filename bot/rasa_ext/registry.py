"""The list of our replacements of third-party functions, and the one place that applies them.

A patch module describes each replacement with `replace(...)` (or `then(...)`) when it is
imported; nothing is changed until `apply(kinds)` runs (called by `bot.rasa_ext.install_*`).
Each entry names the function it replaces, the library that function comes from, and why, so that
`python -m bot.rasa_ext` can list them all and tests/unit/test_rasa_ext_pins.py can check
that every replaced function is still the one the patch was written against.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

SAFETY = "safety"
SPEED = "speed"
LIVE = "live"  # the served model follows the published knowledge base (always applied)
KINDS = (SAFETY, SPEED, LIVE)
# Which process a patch belongs in: the Rasa server (and whatever runs Rasa in-process: the
# evaluation driver, the tests) or the action server.
RASA = "rasa"
ACTIONS = "actions"


@dataclass
class Patch:
    name: str               # "speed.graph_runner": kind, then what it does
    kind: str               # SAFETY or SPEED
    process: str            # RASA or ACTIONS
    replaces: str           # dotted path of the replaced function, e.g. "rasa.core....run"
    library: str            # the distribution it comes from ("rasa", "sanic", ...)
    why: str
    module: str             # our module holding the replacement
    original: Any           # the replaced function as the library defines it
    uses: tuple = ()        # other libraries whose internals the replacement relies on
    _apply: Callable[[], None] = field(repr=False, default=lambda: None)
    applied: bool = False

    @property
    def libraries(self) -> tuple:
        return (self.library, *self.uses)

    def source_sha256(self) -> str:
        """SHA-256 of the replaced function's source, as the installed library has it."""
        return source_sha256(self.original)


def source_sha256(function: Any) -> str:
    function = getattr(function, "__func__", function)  # a classmethod or staticmethod
    source = textwrap.dedent(inspect.getsource(inspect.unwrap(function)))
    return hashlib.sha256(source.encode()).hexdigest()


def library_version(library: str) -> str:
    return importlib.metadata.version(library)


PATCHES: Dict[str, Patch] = {}


def _register(patch: Patch) -> Patch:
    known = PATCHES.get(patch.name)
    if known is not None and known.module != patch.module:
        raise RuntimeError(f"two patches are called {patch.name}: {known.module} and {patch.module}")
    PATCHES.setdefault(patch.name, patch)
    return PATCHES[patch.name]


def replace(owner: Any, attribute: str, replacement: Any, *, name: str, kind: str, library: str,
            why: str, process: str = RASA, uses: tuple = (), _depth: int = 2) -> Patch:
    """Describe `owner.attribute = replacement` (a class or module attribute); applied later.

    A class's attribute is read without binding it, so a classmethod is kept as one."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    original = inspect.getattr_static(owner, attribute) if isinstance(owner, type) else getattr(owner, attribute)
    target = getattr(original, "__func__", original)
    replaces = f"{target.__module__}.{target.__qualname__}"
    patch = Patch(name=name, kind=kind, process=process, replaces=replaces, library=library, why=why,
                  module=_caller_module(_depth), original=original, uses=tuple(uses))

    def apply() -> None:
        setattr(owner, attribute, replacement)

    patch._apply = apply
    return _register(patch)


def then(owner: Any, attribute: str, hook: Callable[[Any], None], **described: Any) -> Patch:
    """Describe a replacement of the factory `owner.attribute` that calls it as before, then
    hands what it made (a Sanic app) to `hook`. The library looks the factory up in its module
    when it runs, so the replacement is what it calls. Several hooks on one factory chain: each
    calls whatever was there when it was applied."""
    original = getattr(owner, attribute)
    below = [original]

    @functools.wraps(original)
    def made_then_hooked(*args: Any, **kwargs: Any) -> Any:
        made = below[0](*args, **kwargs)
        hook(made)
        return made

    patch = replace(owner, attribute, made_then_hooked, _depth=3, **described)
    put_in_place = patch._apply

    def apply_on_top() -> None:
        below[0] = getattr(owner, attribute)
        put_in_place()

    patch._apply = apply_on_top
    return patch


def _caller_module(depth: int) -> str:
    """The module that described the patch: `depth` frames up from here (sys._getframe reads
    no source files, unlike inspect.stack)."""
    return sys._getframe(depth).f_globals.get("__name__", "?")


def apply(kinds: Iterable[str], process: str) -> List[Patch]:
    """Apply every registered patch of these kinds for this process (once each)."""
    kinds = set(kinds)
    done = []
    for patch in PATCHES.values():
        if patch.kind in kinds and patch.process == process and not patch.applied:
            patch._apply()
            patch.applied = True
            done.append(patch)
    return done


def applied(kind: Optional[str] = None, process: str = RASA) -> List[Patch]:
    return [p for p in PATCHES.values() if p.applied and p.process == process and kind in (None, p.kind)]


def apply_named(names: Iterable[str]) -> None:
    """Apply these registered patches only (a test exercising one patch in a small process)."""
    for name in names:
        patch = PATCHES[name]
        if not patch.applied:
            patch._apply()
            patch.applied = True
