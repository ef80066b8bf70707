"""Rasa's SQL tracker store, without re-reading and re-counting the conversation on every turn.

Profiled under load (docs/performance.md "Round 2"), Rasa's `SQLTrackerStore` was about 40%
of the Rasa server's time per message: each turn it loads and deserialises every event of
the session, and each save first counts the stored events (a query with a sub-query) to
find the new ones. Here the same table, rows and session rules are used, but:

- the events of a conversation's current session, as a read returns them, are kept in
  memory (a bounded LRU; idle ones dropped after an hour) with a *version* of the
  conversation's rows: count, lowest and highest id, latest timestamp;
- `retrieve` reads only that version (one indexed aggregate query); if it is unchanged the
  tracker is rebuilt from the kept events, otherwise the session is read from the database
  as Rasa does. Anything else that writes or deletes the conversation's rows (another
  replica, the retention job, a deletion request, a spooled write) changes the version;
- a tracker handed out carries its own base (the version and events it was read with), and
  `save` appends the events after that base and nothing else, whatever happened to the kept
  copy meanwhile; the version is read again in the same transaction, and the copy is kept
  only if nobody else wrote or deleted in between. A tracker with no base (a new object, a
  spooled tracker, a copy) is saved by Rasa's own method;
- a failure before the commit leaves the base in place (the retry appends the same events
  once); a commit that fails may have landed, so the tracker loses its base and a retry is
  Rasa's count-based save.

The tracker objects handed out are new, but the event objects in them are shared with the
kept copy: like Rasa, we treat logged events as never changed in place.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Text, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

# The conversation's rows: count, lowest id, highest id, latest timestamp. SQLite reuses the
# ids of deleted rows at the end of the table, so the ids alone could match again over
# different rows; the timestamps of new rows do not.
Version = Tuple[int, Optional[int], Optional[int], Optional[float]]

DEFAULT_CACHE_SIZE = 500
IDLE_SECONDS = 3600  # a conversation idle this long is dropped from memory (its session has ended)
# On a tracker: the version it was read (or last saved) with, its events then (which are
# stored), and the session as a read returns them.
_PIN = "_clinic_stored"


@dataclass
class _Kept:
    version: Version
    # The current session as Rasa's store would read it back (events rebuilt from their
    # stored JSON); trackers are handed out built from these.
    events: List[Event]
    used: float = field(default_factory=time.monotonic)


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
_VERSION = (sa.select(sa.func.count(_EVENTS.c.id), sa.func.min(_EVENTS.c.id), sa.func.max(_EVENTS.c.id),
                      sa.func.max(_EVENTS.c.timestamp))
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
                                           hide_parameters=True, connect_args={"check_same_thread": False})
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        self._capacity = max(0, default_cache_size() if cache_size is None else int(cache_size))
        self._kept: "OrderedDict[str, _Kept]" = OrderedDict()
        self._mutex = threading.Lock()
        self.hits = self.reloads = self.fallback_saves = 0  # read by the tests
        self._schema_checked = False

    # --- the kept copies --------------------------------------------------------------------

    def _drop_idle(self) -> None:
        # Least recently used first: stop at the first one still in use. Nothing personal
        # stays in memory long after the conversation (or its deletion).
        limit = time.monotonic() - IDLE_SECONDS
        while self._kept and next(iter(self._kept.values())).used < limit:
            self._kept.popitem(last=False)

    def _get(self, sender_id: str) -> Optional[_Kept]:
        with self._mutex:
            self._drop_idle()
            kept = self._kept.get(sender_id)
            if kept is not None:
                kept.used = time.monotonic()
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
            self._drop_idle()

    def forget(self, sender_id: str) -> None:
        with self._mutex:
            self._kept.pop(sender_id, None)

    def _version(self, connection: Any, sender_id: str) -> Version:
        rows, low, high, latest = connection.execute(_VERSION, {"sender": sender_id}).one()
        return int(rows or 0), low, high, latest

    def _tracker(self, sender_id: str, version: Version, events: List[Event]) -> DialogueStateTracker:
        tracker = DialogueStateTracker.from_events(sender_id, events, self.domain.slots)
        _pin(tracker, version, events, events)
        return tracker

    # --- reading ----------------------------------------------------------------------------

    def _check_schema_once(self) -> None:
        """Rasa checks on every session that a configured PostgreSQL schema exists (and stops
        the server with a clear message if not); the plain connections below do not, so it
        is made once here. A database that is down raises, as any read would."""
        if not self._schema_checked:
            with self.session_scope():
                pass
            self._schema_checked = True

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        # The hot paths (this check, and the appends in `save`) use a plain connection: an ORM
        # session costs more than these statements (its setup, the ORM's execute path, and
        # the schema check above, which the reload below and Rasa's own paths still make).
        self._check_schema_once()
        with self.engine.connect() as connection:
            version = self._version(connection, sender_id)
        kept = self._get(sender_id)
        if kept is not None and kept.version == version:
            self.hits += 1
            return self._tracker(sender_id, version, kept.events) if kept.events else None
        self.reloads += 1
        with self.session_scope() as session:
            # The version is read *before* the events: a write landing between the two makes
            # the kept version older than the kept events, which only costs a reload later.
            version = self._version(session.connection(), sender_id)
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
            dumps = [json.loads(row.data) for row in rows]
        if not dumps or not self.domain:
            self._put(sender_id, _Kept(version, []))
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, dumps, self.domain.slots)
        events = list(tracker.events)
        self._put(sender_id, _Kept(version, events))
        _pin(tracker, version, events, events)
        return tracker

    # --- writing ----------------------------------------------------------------------------

    def _base(self, tracker: DialogueStateTracker) -> Optional[Tuple[Optional[Version], int, Optional[List[Event]]]]:
        """The version the tracker was read (or last saved) with, how many of its first events
        are stored, and the session as read back; None if it is not tied to the rows (then
        Rasa's save is used)."""
        if tracker.events.maxlen is not None:
            return None
        pin = tracker.__dict__.get(_PIN)
        if pin is not None:
            version, known, session = pin
            if len(tracker.events) >= len(known) and all(a is b for a, b in zip(tracker.events, known)):
                return version, len(known), session
            return None
        kept = self._get(tracker.sender_id)
        if kept is not None and not kept.events:
            # A new conversation: nothing was read back. Checked in the transaction below.
            return kept.version, 0, []
        return None

    def _row(self, tracker: DialogueStateTracker, event: Event) -> dict:
        data = event.as_dict()
        return {"sender_id": tracker.sender_id, "type_name": event.type_name,
                "timestamp": data.get("timestamp"),
                "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                "action_name": data.get("name"), "data": json.dumps(data)}

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the events after the stored ones. The base is the tracker's own (pinned when
        it was read), not the kept copy, so a copy evicted or reloaded meanwhile changes
        nothing; a deletion during the turn is not undone by writing the deleted events back
        (Rasa's count-based save would write the whole session again)."""
        sender_id = tracker.sender_id
        base = self._base(tracker)
        if base is None:
            return await self._save_as_rasa_does(tracker)
        version, stored, session_before = base
        await self.stream_events(tracker)
        events = list(tracker.events)
        new = events[stored:]
        if not new:
            return None
        rows = [self._row(tracker, event) for event in new]
        self._check_schema_once()
        with self.engine.begin() as connection:  # one transaction, committed on leaving
            if not stored and self._version(connection, sender_id) != version:
                ids = None  # someone else wrote first: Rasa's save, after this transaction
            else:
                ids = [connection.execute(_INSERT, row).inserted_primary_key[0] for row in rows]
                # Read in the same transaction: equal to the base plus our rows only if
                # nobody else wrote or deleted meanwhile; otherwise nothing is kept (the
                # next read loads).
                after = self._version(connection, sender_id)
                # A failure before this point rolls everything back: the pin stays and a
                # retry appends the same events once. A commit that fails may still have
                # landed: the tracker is then tied to nothing and a retry is saved by Rasa's
                # count.
                tracker.__dict__.pop(_PIN, None)
                self.forget(sender_id)
        if ids is None:
            return await self._save_as_rasa_does(tracker)
        expected = None
        if version is not None:
            count, low, high, latest = version
            stamps = [t for t in (latest, *(r["timestamp"] for r in rows)) if t is not None]
            expected = (count + len(ids), low if count else min(ids), max([high or 0, *ids]),
                        max(stamps) if stamps else None)
        try:
            read_back = _read_back(rows)
        except Exception:  # noqa: BLE001 - committed: never fail (and be retried) after that
            read_back = None
        session = (current_session(session_before + read_back)
                   if read_back is not None and session_before is not None else None)
        # Committed: the tracker's events are all stored, whatever else happened meanwhile,
        # so its next save (if any) appends after them.
        _pin(tracker, after, events, session)
        if expected is not None and after == expected and session is not None:
            self._put(sender_id, _Kept(after, session))
        return None

    async def _save_as_rasa_does(self, tracker: DialogueStateTracker) -> None:
        """For a tracker not built from the kept events (a new object, a spooled tracker, a
        copy): Rasa's own save counts what is stored; the next read reloads."""
        self.fallback_saves += 1
        self.forget(tracker.sender_id)
        tracker.__dict__.pop(_PIN, None)
        await super().save(tracker)
        # Every event of this object is stored now: if Rasa saves it again (within the turn),
        # only what follows is appended. Counting again would be wrong for an object that
        # spans a session start (Rasa counts only the latest session's rows).
        _pin(tracker, None, list(tracker.events), None)


def _pin(tracker: DialogueStateTracker, version: Optional[Version], known: List[Event],
         session: Optional[List[Event]]) -> None:
    # The lists are never changed in place (a save makes new ones), so they are shared.
    tracker.__dict__[_PIN] = (version, known, session)


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
