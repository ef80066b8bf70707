"""Rasa SDK action server: thin adapters that call into the `bot` package."""

from actions.webhook_guard import install as _install_webhook_guard

_install_webhook_guard()
