"""Rasa SDK action server: thin adapters that call into the `bot` package."""


def _refuse_an_unguarded_action_server() -> None:
    """Our actions read and write any conversation, so inside rasa_sdk's server they load only
    behind the guard that lets the Rasa server alone call them (`python -m
    bot.serve.action_server`), never under a bare `python -m rasa_sdk`."""
    try:
        from sanic import Sanic

        Sanic.get_app("rasa_sdk")
    except Exception:  # noqa: BLE001 - not inside the action server (e.g. unit tests import actions)
        return
    from bot import rasa_ext
    from bot.rasa_ext.registry import ACTIONS

    if not rasa_ext.safety_installed(ACTIONS):
        raise RuntimeError("the action server must be started with `python -m bot.serve.action_server` "
                           "(bot/rasa_ext: only the Rasa server may call our actions)")


_refuse_an_unguarded_action_server()


def _refuse_placeholder_clinic_facts() -> None:
    """The safety replies quote clinic.yml: in production the action server stops here, as it
    starts, while it holds placeholders (bot/config/clinic.py), not at its first patient. Before the
    triage warm-up, which takes seconds."""
    from bot.config.clinic import refuse_to_start_unless_ready

    refuse_to_start_unless_ready()


_refuse_placeholder_clinic_facts()


def _warm_up_triage() -> None:
    """Load the triage engine (medspaCy, the sentence encoder and its red-flag bank) as the
    action server starts, not inside the first patient's action call, which has a deadline."""
    from actions.triage import engine

    engine()


_warm_up_triage()
