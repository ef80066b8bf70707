"""One vetted knowledge entry and the identifiers derived from it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Tuple

# Rasa intent names may not contain "/" (retrieval separator) and dots read badly in
# stories, so sub-entries "<topic>.<sub>" map to "kb_<topic>__<sub>".
INTENT_PREFIX = "kb_"


@dataclass(frozen=True)
class KnowledgeEntry:
    id: str
    title: str
    questions: Tuple[str, ...]
    answer: str
    source: Tuple[str, ...]
    reviewed_by: str
    reviewed_on: str
    path: str
    # "article" or "clinic" (bot/knowledge/checks.py AUTHORED_BY): staff see which it is.
    authored_by: str = "article"

    @property
    def topic(self) -> str:
        """The topic id (the parent id for a sub-entry), as the evaluation labels it."""
        return self.id.split(".", 1)[0]

    @property
    def intent(self) -> str:
        return intent_for_entry_id(self.id)

    @property
    def version(self) -> str:
        """Content hash of everything a patient or reviewer could see; changes with any edit."""
        fields = {
            "id": self.id,
            "title": self.title,
            "answer": self.answer,
            "source": list(self.source),
            "reviewed_by": self.reviewed_by,
            "reviewed_on": self.reviewed_on,
        }
        if self.authored_by != "article":  # so the article's entries keep the hashes logged so far
            fields["authored_by"] = self.authored_by
        payload = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]

    @property
    def reviewed(self) -> bool:
        return self.reviewed_by != "pending"


def intent_for_entry_id(entry_id: str) -> str:
    return INTENT_PREFIX + entry_id.replace(".", "__")


def entry_id_for_intent(intent: str) -> str | None:
    if not intent or not intent.startswith(INTENT_PREFIX):
        return None
    return intent[len(INTENT_PREFIX):].replace("__", ".")
