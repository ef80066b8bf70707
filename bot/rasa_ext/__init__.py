"""Every change we make to third-party behaviour (Rasa, rasa_sdk, Sanic, scipy, TensorFlow's
call path), in one package, applied by one explicit call from each entry point.

- `safety/`: changes the assistant is not safe without: turns fail closed when the action
  server or the database fails (`fail_closed`), Rasa's /model API stays closed and tokens stay
  out of the logs (`api_hardening`), and only the Rasa server may call the action server
  (`action_webhook`). Always applied.
- `speed/`: measured speed-ups that must not change any result (docs/performance.md). Applied
  unless `CLINIC_SPEEDUPS=off`; with it off the assistant behaves identically, only slower
  (CI runs the conversation tests both ways).
- `live/`: the Rasa server swaps in the model retrained from the published knowledge base
  (`model_swap`, bot/knowledge/retrain.py), since Rasa's own /model API is closed. Always applied.

`registry.PATCHES` lists each replacement with what it replaces and why (`python -m
bot.rasa_ext` prints them); `pins.yml` records the library versions and a hash of each replaced
function's source, checked by tests/unit/test_rasa_ext_pins.py, so a library upgrade that
changes a replaced function fails a test naming the patch to re-check.
"""
from __future__ import annotations

import importlib
import os
from typing import List

from bot.rasa_ext import registry

SPEEDUPS_SETTING = "CLINIC_SPEEDUPS"

_RASA_MODULES = (
    "bot.rasa_ext.safety.fail_closed",
    "bot.rasa_ext.safety.api_hardening",
    "bot.rasa_ext.speed.hot_paths",
    "bot.rasa_ext.speed.diet_intents",
    "bot.rasa_ext.speed.rule_matching",
    "bot.rasa_ext.speed.heap",
    "bot.rasa_ext.speed.sanic_workers",
    "bot.rasa_ext.live.model_swap",
)
_ACTION_SERVER_MODULES = ("bot.rasa_ext.safety.action_webhook",)


def speedups_enabled() -> bool:
    value = (os.environ.get(SPEEDUPS_SETTING) or "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{SPEEDUPS_SETTING} must be 'on' or 'off', not {value!r}")
    return value == "on"


def _kinds() -> tuple:
    return registry.KINDS if speedups_enabled() else (registry.SAFETY, registry.LIVE)


def describe_all() -> List[registry.Patch]:
    """Every patch, registered but not applied (for listing and for the pin test)."""
    for module in (*_RASA_MODULES, *_ACTION_SERVER_MODULES):
        importlib.import_module(module)
    return list(registry.PATCHES.values())


def install_for_rasa() -> List[registry.Patch]:
    """In a process that runs Rasa (the Rasa server, the evaluation driver, the tests):
    the safety changes, and the speed changes unless CLINIC_SPEEDUPS=off. Idempotent."""
    for module in _RASA_MODULES:
        importlib.import_module(module)
    return registry.apply(_kinds(), registry.RASA)


def install_for_action_server() -> List[registry.Patch]:
    for module in _ACTION_SERVER_MODULES:
        importlib.import_module(module)
    return registry.apply(_kinds(), registry.ACTIONS)


async def close_connections() -> None:
    """Close what the patches keep open on the running event loop (the action-server
    connections of speed.action_server_connections), before the loop itself is closed: left
    to the garbage collector, aiohttp reports them with a traceback while Python shuts down."""
    if registry.PATCHES.get("speed.action_server_connections") is not None:
        from bot.rasa_ext.speed import hot_paths

        await hot_paths.close_sessions()


def safety_installed(process: str = registry.RASA) -> bool:
    """Whether every safety patch of this process is in place (checked where our pipeline or
    actions load, so a stock `rasa run` cannot serve patients without them)."""
    wanted = [p for p in registry.PATCHES.values() if p.kind == registry.SAFETY and p.process == process]
    return bool(wanted) and all(p.applied for p in wanted)
