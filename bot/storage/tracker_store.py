"""Rasa's SQL tracker store, without re-reading and re-counting the conversation on every turn.

Profiled under load (README "Performance and scale"), Rasa's `SQLTrackerStore` was about 40%
of the Rasa server's time per message: each turn it loads and deserialises every event of
the session, and each save first counts the stored events (a query with a sub-query) to
find the new ones. Here the same table, rows and session rules are used, but:

- the events of a conversation's current session, as stored, are kept in memory (a bounded
  LRU) together with a *version* of the conversation's rows: (count, min id, max id);
- `retrieve` reads only that version (one indexed aggregate query); if it is unchanged the
  tracker is rebuilt from the kept events, otherwise it is loaded from the database as Rasa
  does. Anything else that writes or deletes the conversation's rows (another replica, the
  retention job, a patient's deletion request, a spooled write) changes the version, so a
  stale copy is never used;
- `save` inserts the events that follow the kept ones and nothing else; the new version is
  computed from the ids it inserted, so if anybody else wrote in between, the next
  `retrieve` sees a different version and reloads. A tracker that was not built from the
  kept events (its first events are not the same objects) is saved by Rasa's own method.

Every tracker handed out is a fresh object, so what a caller does to it never changes what
is kept; what is kept changes only when a save has committed.
"""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Text, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

Version = Tuple[int, Optional[int], Optional[int]]  # rows, min id, max id

DEFAULT_CACHE_SIZE = 500


@dataclass
class _Kept:
    version: Version
    # The current session as Rasa's store would read it back (events rebuilt from their
    # stored JSON); trackers are handed out built from these.
    events: List[Event]
    # The events of the tracker object saved last, as that object holds them: Rasa may go on
    # with the same object (and save it again) within a turn.
    saved: List[Event] = field(default_factory=list)


def default_cache_size() -> int:
    try:
        return max(0, int(os.environ.get("TRACKER_CACHE_SIZE", DEFAULT_CACHE_SIZE)))
    except ValueError:
        return DEFAULT_CACHE_SIZE


def current_session(events: Sequence[Event]) -> List[Event]:
    """What Rasa's session query returns: the events stamped at or after the latest
    `SessionStarted`, or all of them if there is none."""
    starts = [e.timestamp for e in events if isinstance(e, SessionStarted)]
    if not starts:
        return list(events)
    latest = max(starts)
    return [e for e in events if e.timestamp >= latest]


_EVENTS = SQLTrackerStore.SQLEvent.__table__
# Built once: SQLAlchemy then reuses their compiled form instead of rebuilding the statement
# (and its cache key) on every call, which the profile showed costing more than the query.
_VERSION = (sa.select(sa.func.count(_EVENTS.c.id), sa.func.min(_EVENTS.c.id), sa.func.max(_EVENTS.c.id))
            .where(_EVENTS.c.sender_id == sa.bindparam("sender")))
_INSERT = _EVENTS.insert()


class CachedSQLTrackerStore(SQLTrackerStore):
    """Drop-in for Rasa's `SQL` tracker store (same table, same rows)."""

    def __init__(self, *args: Any, cache_size: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            # SQLAlchemy 1.4 opens and closes a new SQLite connection for every session of a
            # file database (NullPool); keeping a few open saves that on every read and save.
            self.engine.dispose()
            self.engine = sa.create_engine(self.engine.url, poolclass=sa.pool.QueuePool, pool_size=5,
                                           connect_args={"check_same_thread": False, "timeout": 30})
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        self._capacity = max(0, default_cache_size() if cache_size is None else int(cache_size))
        self._kept: "OrderedDict[str, _Kept]" = OrderedDict()
        self._mutex = threading.Lock()
        self.hits = self.reloads = self.fallback_saves = 0  # read by the tests

    # --- the kept copies --------------------------------------------------------------------

    def _get(self, sender_id: str) -> Optional[_Kept]:
        with self._mutex:
            kept = self._kept.get(sender_id)
            if kept is not None:
                self._kept.move_to_end(sender_id)
            return kept

    def _put(self, sender_id: str, kept: _Kept) -> None:
        if not self._capacity:
            return
        with self._mutex:
            self._kept[sender_id] = kept
            self._kept.move_to_end(sender_id)
            while len(self._kept) > self._capacity:
                self._kept.popitem(last=False)

    def forget(self, sender_id: str) -> None:
        with self._mutex:
            self._kept.pop(sender_id, None)

    def _version(self, session: Any, sender_id: str) -> Version:
        rows, low, high = session.execute(_VERSION, {"sender": sender_id}).one()
        return int(rows or 0), low, high

    def _tracker(self, sender_id: str, events: List[Event]) -> DialogueStateTracker:
        return DialogueStateTracker.from_events(sender_id, events, self.domain.slots)

    # --- reading ----------------------------------------------------------------------------

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        with self.session_scope() as session:
            # The version is read *before* the events: a write landing between the two makes
            # the kept version older than the kept events, which only costs a reload later.
            version = self._version(session, sender_id)
            kept = self._get(sender_id)
            if kept is not None and kept.version == version:
                self.hits += 1
                return self._tracker(sender_id, kept.events) if kept.events else None
            self.reloads += 1
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            dumps = [json.loads(row.data) for row in rows]
        if not dumps or not self.domain:
            self._put(sender_id, _Kept(version, []))
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, dumps, self.domain.slots)
        self._put(sender_id, _Kept(version, list(tracker.events)))
        return tracker

    # --- writing ----------------------------------------------------------------------------

    @staticmethod
    def _stored_prefix(tracker: DialogueStateTracker, kept: Optional[_Kept]) -> Optional[int]:
        """How many of the tracker's first events are the kept (stored) ones, or None if the
        tracker was not built from them."""
        if kept is None or tracker.events.maxlen is not None:
            return None
        for known in (kept.events, kept.saved):
            if known and len(tracker.events) >= len(known) and all(
                    a is b for a, b in zip(tracker.events, known)):
                return len(known)
        return 0 if not kept.events else None

    def _row(self, tracker: DialogueStateTracker, event: Event) -> dict:
        data = event.as_dict()
        return {"sender_id": tracker.sender_id, "type_name": event.type_name,
                "timestamp": data.get("timestamp"),
                "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                "action_name": data.get("name"), "data": json.dumps(data)}

    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        kept = self._get(sender_id)
        stored = self._stored_prefix(tracker, kept)
        if stored is None:
            return await self._save_as_rasa_does(tracker)
        await self.stream_events(tracker)
        events = list(tracker.events)
        new = events[stored:]
        if not new:
            return None
        rows = [self._row(tracker, event) for event in new]
        ids: List[int] = []
        with self.session_scope() as session:
            if not stored and self._version(session, sender_id) != kept.version:
                # Nothing was read back, so nothing ties this tracker to the rows: if somebody
                # wrote since, count as Rasa does. (With events read back, only the new ones
                # are appended whatever happened meanwhile; a deletion during the turn, say,
                # is not undone by writing the deleted events back, as Rasa's save would.)
                session.close()
                return await self._save_as_rasa_does(tracker)
            for row in rows:
                # One statement per row (not executemany) to learn each row's id, which
                # becomes the conversation's new version.
                ids.append(session.execute(_INSERT, row).inserted_primary_key[0])
            session.commit()
        count, low, high = kept.version
        version = (count + len(ids), low if count else min(ids), max([high or 0, *ids]))
        try:
            read_back = _read_back(rows)
        except Exception:  # noqa: BLE001 - committed: never fail (and be retried) after that
            read_back = None
        if read_back is None:
            self.forget(sender_id)
        else:
            self._put(sender_id, _Kept(version, current_session(kept.events + read_back), saved=events))
        return None

    async def _save_as_rasa_does(self, tracker: DialogueStateTracker) -> None:
        """For a tracker not built from the kept events (a new object, a spooled tracker, a
        copy): Rasa's own save counts what is stored; the next read reloads."""
        self.fallback_saves += 1
        self.forget(tracker.sender_id)
        await super().save(tracker)


_event_classes: dict = {}


def _read_back(rows: List[dict]) -> Optional[List[Event]]:
    """The events as a read from the database returns them (tuples become lists, ...)."""
    events = []
    for row in rows:
        data = json.loads(row["data"])
        name = data.get("event")
        if name not in _event_classes:
            _event_classes[name] = Event.resolve_by_type(name, default=None)
        cls = _event_classes[name]
        event = cls._from_parameters(data) if cls is not None else None
        if event is None:
            return None
        events.append(event)
    return events
