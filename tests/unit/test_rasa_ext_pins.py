"""bot/rasa_ext: every replacement of a third-party function is registered, pinned to the
library versions and the replaced source it was written against, and applied only by the
explicit install call, with the speed changes switchable off."""
import copy
import os
import subprocess
import sys

import pytest

from bot import rasa_ext
from bot.config import paths
from bot.serve.processes import project_env
from bot.rasa_ext import pins, registry


def test_the_pins_hold_for_the_installed_libraries():
    found = pins.problems(pins.load())
    assert not found, "\n".join(found)


def test_a_changed_source_pin_names_the_patch_to_re_check():
    edited = copy.deepcopy(pins.load())
    edited["patches"]["speed.graph_runner"]["source_sha256"] = "0" * 64
    found = pins.problems(edited)
    assert len(found) == 1
    assert "speed.graph_runner" in found[0] and "rasa.engine.runner.dask.DaskGraphRunner.run" in found[0]
    assert "bot/rasa_ext/speed/hot_paths.py" in found[0]


def test_a_changed_library_version_names_every_patch_that_relies_on_it():
    edited = copy.deepcopy(pins.load())
    edited["libraries"]["scipy"] = "0.0.1"
    found = pins.problems(edited)
    assert len(found) == 1
    assert "scipy is" in found[0] and "speed.sparse_join" in found[0] and "speed.diet_numpy_intents" in found[0]
    assert "speed.graph_runner" not in found[0]


def test_an_unpinned_or_stale_patch_is_reported():
    edited = copy.deepcopy(pins.load())
    del edited["patches"]["safety.model_api_closed"]
    edited["patches"]["speed.gone"] = {"replaces": "x.y", "source_sha256": "0" * 64}
    found = "\n".join(pins.problems(edited))
    assert "safety.model_api_closed" in found and "has no pin" in found
    assert "speed.gone" in found and "no longer a registered patch" in found


def test_every_patch_says_what_it_replaces_and_why():
    patches = rasa_ext.describe_all()
    assert {p.kind for p in patches} == {registry.SAFETY, registry.SPEED, registry.LIVE}
    for patch in patches:
        assert patch.name.startswith(patch.kind + "."), patch.name
        assert len(patch.why) > 40, patch.name
        assert patch.module.startswith(f"bot.rasa_ext.{patch.kind}."), patch.name


def test_the_tests_run_with_what_the_switch_says():
    # tests/conftest.py installs as the Rasa server does; scripts/test.sh runs the conversation
    # tests a second time with CLINIC_SPEEDUPS=off.
    speed_on = rasa_ext.speedups_enabled()
    for patch in rasa_ext.describe_all():
        if patch.process == registry.RASA:
            assert patch.applied == (patch.kind in (registry.SAFETY, registry.LIVE) or speed_on), patch.name
    from rasa.engine.runner.dask import DaskGraphRunner

    graph_runner = registry.PATCHES["speed.graph_runner"]
    assert (DaskGraphRunner.run is graph_runner.original) != speed_on


_PROBE = """
import sys
from bot import rasa_ext
from bot.rasa_ext import registry
import bot.rasa_ext.speed.hot_paths  # importing a patch module changes nothing by itself
from rasa.engine.runner.dask import DaskGraphRunner
assert DaskGraphRunner.run is registry.PATCHES["speed.graph_runner"].original
rasa_ext.install_for_rasa()
print(sorted(p.name for p in registry.applied()))
"""


@pytest.mark.parametrize("setting", ["on", "off"])
def test_only_the_install_call_applies_patches_and_the_switch_leaves_speed_out(setting):
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=paths.ROOT, capture_output=True, text=True,
                            env=project_env(CLINIC_SPEEDUPS=setting), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    applied = eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 - our own probe's list
    safety = {p.name for p in rasa_ext.describe_all() if p.kind == "safety" and p.process == "rasa"}
    assert safety <= set(applied)
    assert any(n.startswith("speed.") for n in applied) == (setting == "on")


def test_a_bad_switch_value_is_refused_with_the_setting_named(monkeypatch):
    monkeypatch.setitem(os.environ, rasa_ext.SPEEDUPS_SETTING, "fast")
    with pytest.raises(ValueError, match="CLINIC_SPEEDUPS must be 'on' or 'off'"):
        rasa_ext.speedups_enabled()


def test_a_bare_rasa_cannot_load_our_pipeline():
    """Without the install call (a stock `python -m rasa run`), our first pipeline component
    refuses to load, so patients are never served without the safety changes."""
    probe = ("from bot.triage.tokenizer import DenialAwareTokenizer\n"
             "try:\n    DenialAwareTokenizer.create({}, None, None, None)\n"
             "except SystemExit as e:\n    print('refused:', e)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=paths.ROOT, capture_output=True, text=True,
                            env=project_env(), timeout=300)
    assert "refused:" in result.stdout and "bot.serve.rasa_cli" in result.stdout, result.stdout + result.stderr[-2000:]


def test_the_docs_list_every_patch():
    listed = (paths.ROOT / "docs" / "rasa-changes.md").read_text()
    missing = [p.name for p in rasa_ext.describe_all() if f"| `{p.name}` |" not in listed]
    assert not missing, f"docs/rasa-changes.md does not list: {', '.join(missing)}"


def test_hooks_on_one_factory_chain():
    """speed.start_up_heap_frozen and live.model_follows_knowledge both hook
    rasa.core.run.configure_app: each must still run once both are applied."""
    import rasa.core.run

    rasa_ext.describe_all()
    heap, live = registry.PATCHES["speed.start_up_heap_frozen"], registry.PATCHES["live.model_follows_knowledge"]
    if not (heap.applied and live.applied):
        pytest.skip("needs the speed changes on")
    app = rasa.core.run.configure_app(port=0)
    # Sanic 21.12 keeps server listeners as signal handlers: partial(Sanic._listener, listener=...).
    names = {getattr(getattr(route, "handler", None), "keywords", {}).get("listener", None).__name__
             for route in app.signal_router.routes
             if hasattr(getattr(getattr(route, "handler", None), "keywords", {}).get("listener", None), "__name__")}
    assert {"freeze_start_up_heap", "start_following", "stop_following"} <= names
