"""Proposed wording from a file (knowledge/proposals/*.yml), saved as each entry's next version,
awaiting sign-off - so a proposal is reviewed in git as text and signed in the console like any
edit. Running it again changes nothing."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import yaml

from bot.knowledge import store

FIELDS = ("title", "questions", "answer", "source", "authored_by")


class ProposalError(ValueError):
    pass


def load(path: Path) -> Tuple[str, List[dict]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProposalError(f"{path}: cannot read the proposals: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("author"), str) or not isinstance(data.get("entries"), list):
        raise ProposalError(f"{path}: expected 'author' (text) and 'entries' (a list)")
    for i, item in enumerate(data["entries"], 1):
        unknown = set(item) - {"id", "note", *FIELDS} if isinstance(item, dict) else {"(not a mapping)"}
        if unknown or not isinstance(item.get("id"), str):
            raise ProposalError(f"{path}: entry {i}: needs an 'id'; unknown field(s): {sorted(unknown)}")
    return data["author"], data["entries"]


def apply(url: str, path: Path) -> List[Tuple[str, Optional[int]]]:
    """[(entry id, the new version's number, or None when that proposal is already there)].
    Each entry's proposal is checked by the loader's rules; the first refusal stops with it."""
    author, items = load(path)
    out = []
    for item in items:
        entry = store.get_entry(url, item["id"])
        if entry is None:
            raise ProposalError(f"{path}: there is no entry '{item['id']}'")
        latest = entry.latest
        fields = {"title": latest.title, "questions": list(latest.questions), "answer": latest.answer,
                  "source": list(latest.source), "authored_by": latest.authored_by}
        fields.update({k: item[k] for k in FIELDS if k in item})
        fields["answer"] = " ".join(str(fields["answer"]).split())
        if any(v.author == author and v.answer == fields["answer"] and v.title == fields["title"]
               and v.authored_by == fields["authored_by"] for v in entry.versions):
            out.append((entry.id, None))
            continue
        try:
            version = store.save(url, entry.id, author, fields, base=latest.number, submit=True,
                                 note=item.get("note"))
        except store.ContentRefused as exc:
            raise ProposalError(f"{path}: entry '{entry.id}': {exc}") from exc
        out.append((entry.id, version.number))
    return out
