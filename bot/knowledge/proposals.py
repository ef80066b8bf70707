"""Proposed wording in a file (knowledge/proposals/*.yml): reading it and checking its form.
bot/knowledge/store.py saves each proposal as its entry's next version, awaiting sign-off
(apply_proposals) - so a proposal is reviewed in git as text and signed in the console like any
edit, under the same content rules. Applying a file again changes nothing.

A new database gets every file in knowledge/proposals/ right after it is seeded
(store.ensure_seeded); an install seeded before gets a file with
`python -m bot.knowledge propose FILE`.

This module does not use the store: the store reads proposals while it seeds, and a module
importing it back would be a cycle (tests/unit/test_import_flow.py)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import yaml

FIELDS = ("title", "questions", "answer", "source", "authored_by")
# The author is stored with each version (knowledge_versions.author holds 64 characters).
MAX_AUTHOR = 64


class ProposalError(ValueError):
    """A proposals file that cannot be applied; `reason` without the file's path."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def files(directory: Path) -> List[Path]:
    """The proposals files in `directory`, by name: the order they are applied in."""
    return sorted(directory.glob("*.yml"), key=lambda p: p.name)


def load(path: Path) -> Tuple[str, List[dict]]:
    """(author, [{"id": ..., "note": ..., and any of FIELDS}])."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProposalError(path, f"cannot read the proposals: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("author"), str) or not isinstance(data.get("entries"), list):
        raise ProposalError(path, "expected 'author' (text) and 'entries' (a list)")
    if not data["author"].strip() or len(data["author"]) > MAX_AUTHOR:
        raise ProposalError(path, f"'author' must be 1-{MAX_AUTHOR} characters")
    for i, item in enumerate(data["entries"], 1):
        unknown = set(item) - {"id", "note", *FIELDS} if isinstance(item, dict) else {"(not a mapping)"}
        if unknown or not isinstance(item.get("id"), str):
            raise ProposalError(path, f"entry {i}: needs an 'id'; unknown field(s): {sorted(unknown)}")
        if item.get("note") is not None and not isinstance(item["note"], str):
            raise ProposalError(path, f"entry {i}: 'note' must be text")
    return data["author"], data["entries"]
