"""Messages that start with "/" never reach Rasa as intent commands.

Rasa parses "/intent{"slot": "value"}" as that intent with confidence 1.0, which would let
anyone force an intent or set slots. Every channel passes user text through `neutralise`:
leading slashes are dropped, so the words are read as words (a warning sign inside such a
message is still triaged). Channel commands (Telegram's /start, /help, /human) are
recognised by the channel itself and mapped to fixed, server-side parse results.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Optional

_LEADING_SLASHES = re.compile(r"^[\s/]+")


def neutralise(text: Optional[str]) -> str:
    text = text or ""
    return _LEADING_SLASHES.sub("", text) if text.lstrip().startswith("/") else text


def fixed_parse(intent: str, text: str) -> Dict[str, Any]:
    """A parse result decided by the channel, not by the user's text."""
    return {"intent": {"name": intent, "confidence": 1.0}, "entities": [], "text": text,
            "intent_ranking": [{"name": intent, "confidence": 1.0}]}
