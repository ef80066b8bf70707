"""Messages that start with "/" never reach Rasa as intent commands.

Rasa parses "/intent{"slot": "value"}" as that intent with confidence 1.0, which would let
anyone force an intent or set slots. Every channel passes user text through `neutralise`:
leading slashes are dropped, so the words are read as words (a warning sign inside such a
message is still triaged). Channel commands (Telegram's /start, /help, /human) are
recognised by the channel itself and mapped to fixed, server-side parse results.

`neutralise` also cleans what no patient types but a transport can carry (found by the fuzz
tests, tests/fuzz): a lone UTF-16 surrogate (a JSON "\\ud800" escape) cannot be encoded as
UTF-8, so spaCy, SQLite and psycopg2 all raise on it and the message got no reply at all; NUL
is refused by PostgreSQL text columns; other control characters are terminal escapes and
noise. Surrogates become U+FFFD, controls a space (so words on either side stay apart).
"""
from __future__ import annotations

import re
from typing import Any, Dict, Optional

_LEADING_SLASHES = re.compile(r"^[\s/]+")
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 and DEL; tab, LF and CR kept


def clean_text(text: Optional[str]) -> str:
    """Text that can be parsed, stored and shown: no lone surrogates, no control characters."""
    return _CONTROLS.sub(" ", _SURROGATES.sub("\ufffd", text or ""))


def neutralise(text: Optional[str]) -> str:
    text = clean_text(text)
    return _LEADING_SLASHES.sub("", text) if text.lstrip().startswith("/") else text


def fixed_parse(intent: str, text: str) -> Dict[str, Any]:
    """A parse result decided by the channel, not by the user's text."""
    return {"intent": {"name": intent, "confidence": 1.0}, "entities": [], "text": text,
            "intent_ranking": [{"name": intent, "confidence": 1.0}]}
