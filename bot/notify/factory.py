"""Build the configured notifiers from the environment (see docs/escalation.md "Staff notifications")."""
from __future__ import annotations

import os
from typing import Dict, Iterable

from bot.notify.log_notifier import LogNotifier
from bot.notify.telegram_staff import TelegramStaffNotifier
from bot.notify.webhook import WebhookNotifier


def build_notifiers(names: Iterable[str], env=None) -> Dict[str, object]:
    env = env if env is not None else os.environ
    out = {}
    for name in names:
        if name == "log":
            out[name] = LogNotifier()
        elif name == "webhook":
            out[name] = WebhookNotifier(env.get("STAFF_WEBHOOK_URL", ""), env.get("STAFF_WEBHOOK_SECRET", ""))
        elif name == "telegram":
            out[name] = TelegramStaffNotifier(env.get("STAFF_TELEGRAM_TOKEN", ""),
                                              env.get("STAFF_TELEGRAM_CHAT_ID", ""),
                                              env.get("TELEGRAM_API_BASE_URL") or None)
        elif name == "patient":
            from bot.notify.patient import PatientMessenger

            out[name] = PatientMessenger(env.get("RASA_URL", ""), env.get("RASA_API_TOKEN", ""))
        else:
            raise ValueError(f"unknown staff notifier '{name}' in STAFF_NOTIFIERS (known: log, webhook, telegram)")
    return out
