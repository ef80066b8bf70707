"""Rasa SDK action server: thin adapters that call into the `bot` package."""

from actions.webhook_guard import install as _install_webhook_guard

_install_webhook_guard()


def _warm_up_triage() -> None:
    """Load the triage engine (medspaCy, the sentence encoder and its red-flag bank) as the
    action server starts, not inside the first patient's action call, which has a deadline."""
    from actions.triage import engine

    engine()


_warm_up_triage()
