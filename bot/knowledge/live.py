"""What the action server serves, read from the database and live from the next message.

At every message the action server asks `LiveKnowledge.current()`, which reads one number
(knowledge_revision, by primary key) and rebuilds its snapshot only when that number moved:
a published edit is served on the next message without a restart, and an unchanged knowledge
base costs one indexed query.

Which version is served (bot/knowledge/store.py Entry.served): the latest published one;
an entry never published is served as its latest version in development and not at all in
production (CLINIC_ENV=production), where the assistant says it has no reviewed answer.

The decision (bot/knowledge/serving.py) still sees every live entry, published or not, so the
classifier's choice is interpreted as it was trained; only serving refuses an unpublished one.
Retired entries are left out altogether, as if the classifier had not named them.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional

from bot.knowledge import store
from bot.knowledge.entry import KnowledgeEntry
from bot.knowledge.loader import KnowledgeBase, load_topics
from bot.knowledge.serving import AnswerSelector, ServingConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """The version behind one entry's served text."""

    version_id: int
    number: int
    published: bool


@dataclass(frozen=True)
class Snapshot:
    revision: int
    kb: KnowledgeBase                # every live entry, with the text it is served with
    selector: AnswerSelector
    served: Dict[str, Served]        # entry id -> version; missing: not servable here
    unsigned: FrozenSet[str]         # served (development only) although nobody signed them

    def servable(self, entry: Optional[KnowledgeEntry]) -> bool:
        return entry is not None and entry.id in self.served

    def version_of(self, entry: KnowledgeEntry) -> Optional[Served]:
        return self.served.get(entry.id)


def build_snapshot(url: str, config: ServingConfig, production: bool, rev: int) -> Snapshot:
    entries: Dict[str, KnowledgeEntry] = {}
    served: Dict[str, Served] = {}
    unsigned = set()
    for e in store.all_entries(url):
        if e.retired_at:
            continue
        version = e.served(production)
        if version is None:  # production, never published: decided on, never served
            entries[e.id] = e.latest.as_entry()
            continue
        entries[e.id] = version.as_entry()
        served[e.id] = Served(version.id, version.number, bool(version.signer))
        if not version.signer:
            unsigned.add(e.id)
    kb = KnowledgeBase(entries=entries, topics=load_topics())
    return Snapshot(rev, kb, AnswerSelector(kb, config), served, frozenset(unsigned))


class LiveKnowledge:
    def __init__(self, url: str, config: ServingConfig, production: bool):
        self.url, self.config, self.production = url, config, production
        self._snapshot: Optional[Snapshot] = None
        self._lock = threading.Lock()

    def current(self) -> Snapshot:
        try:
            rev = store.revision(self.url)
            if rev is None:
                store.ensure_seeded(self.url)
                rev = store.revision(self.url)
        except Exception:  # noqa: BLE001 - the database is down: answer from what was last read
            if self._snapshot is None:
                raise
            logger.warning("knowledge base: cannot read its revision; serving revision %s",
                           self._snapshot.revision, exc_info=True)
            return self._snapshot
        snap = self._snapshot
        if snap is not None and snap.revision == rev:
            return snap
        with self._lock:  # one rebuild, however many actions ask at once
            if self._snapshot is None or self._snapshot.revision != rev:
                self._snapshot = build_snapshot(self.url, self.config, self.production, rev)
                logger.info("knowledge base: serving revision %s (%d entries, %d unsigned)", rev,
                            len(self._snapshot.served), len(self._snapshot.unsigned))
            return self._snapshot
