"""Load the patient-facing texts that custom actions send (bot/replies.yml), strictly."""
from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict

import yaml

REPLIES_FILE = Path(__file__).with_name("replies.yml")


class Replies:
    def __init__(self, texts: Dict[str, str], path: Path):
        self._texts = texts
        self._path = path

    def __call__(self, key: str, **values: Any) -> str:
        if key not in self._texts:
            raise KeyError(f"{self._path}: no reply '{key}'")
        text = self._texts[key]
        try:
            return text.format(**values)
        except KeyError as exc:
            raise KeyError(f"{self._path}: reply '{key}' needs a value for {exc}") from None

    def keys(self):
        return self._texts.keys()

    def placeholders(self, key: str):
        return {name for _, name, _, _ in string.Formatter().parse(self._texts[key]) if name}


def load_replies(path: Path = REPLIES_FILE) -> Replies:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected 'name: text' lines")
    for key, value in data.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{path}: reply '{key}' must be non-empty text")
    return Replies({k: " ".join(v.split()) for k, v in data.items()}, path)


@lru_cache(maxsize=1)
def replies() -> Replies:
    return load_replies()
