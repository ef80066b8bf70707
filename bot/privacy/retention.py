"""Retention: conversations with no activity for RETENTION_DAYS (default 365) lose their texts
and contact details, through the same purge as a patient's "delete my data"
(`bot.privacy.deletion`), leaving an audit stub with reason "retention".

A conversation's last activity is the latest of: its tracker events, its unanswered and
served logs, its escalations' updates (staff acknowledging, noting, resolving) and trail
entries. The worker runs the job at start and then hourly (`RetentionJob`); a backlog is
worked through in batches, one per worker round, so alerts are never held up behind it.

A conversation with an escalation still open or acknowledged is not purged, however old:
staff are still working on it and need the transcript and the patient's contact details to
call back; deleting them silently could lose a warning sign nobody has acted on. It is
counted and logged (escalation ids only) at every run, and purged once resolved and idle for
the retention period (resolving counts as activity).

Safe to run on several workers at once: each conversation is purged in its own transaction
under a per-conversation lock, every statement only touches content still there and older
than the cutoff, and a stub is written only when something was purged, so a second run, or a
second worker, finds nothing and writes nothing.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from sqlalchemy import text, func, select, update

from bot.escalation.store import OPEN_STATUSES
from bot.privacy.deletion import (PURGE_ACTION, RETENTION, Purged, escalation_levels, has_personal_fields,
                                  has_tracker_store, lock_conversation, purge_content, unpurged_text)
from bot.resilience.spool import purge_dead_letters
from bot.storage.db import transaction
from bot.storage.models import (DataDeletion, Escalation, EscalationAttachment, EscalationEvent, ServedAnswer,
                                TelegramUpdate, UnansweredQuestion, utcnow)
from bot.storage.rasa_events import events_table as _rasa_events

logger = logging.getLogger(__name__)

RUN_EVERY = dt.timedelta(hours=1)
BATCH = 100  # conversations purged per run; a fuller backlog continues in the next worker round


@dataclass
class RetentionResult:
    cutoff: dt.datetime
    purged: Dict[str, Purged] = field(default_factory=dict)  # conversation id -> what was removed
    kept_open: Dict[str, List[int]] = field(default_factory=dict)  # conversation id -> open escalation ids
    telegram_updates: int = 0  # unprocessed Telegram updates past the period whose payload was dropped
    dead_letters: int = 0  # spool items set aside before the cutoff, deleted
    more: bool = False  # the batch was full: more conversations are due


def _from_epoch(ts: Optional[float]) -> Optional[dt.datetime]:
    if ts is None:
        return None
    try:
        return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):
        # A timestamp no date can hold (e.g. milliseconds appended through Rasa's API): read
        # as "active", so that conversation is kept and never stops the job for the others.
        return dt.datetime.max


def _latest(into: Dict[str, dt.datetime], rows: Iterable[Tuple[str, Optional[dt.datetime]]]) -> None:
    for conversation_id, at in rows:
        if at is not None and (conversation_id not in into or at > into[conversation_id]):
            into[conversation_id] = at


def _activity_queries(tracker_store: bool, conversation_id: Optional[str] = None):
    """(conversation id, latest activity) per conversation, one query per source; for one
    conversation if `conversation_id` is given."""
    def one(conv_col, at_col, join=None, where=None):
        q = select(conv_col, func.max(at_col))
        if join is not None:
            q = q.join(*join)
        if where is not None:
            q = q.where(where)
        if conversation_id is not None:
            q = q.where(conv_col == conversation_id)
        return q.group_by(conv_col)

    queries = [
        one(UnansweredQuestion.conversation_id, UnansweredQuestion.created_at),
        one(ServedAnswer.conversation_id, ServedAnswer.created_at),
        one(Escalation.conversation_id, Escalation.updated_at),
        # Staff and system actions on the trail; the purge's own entry is not activity.
        one(Escalation.conversation_id, EscalationEvent.created_at,
            join=(EscalationEvent, EscalationEvent.escalation_id == Escalation.id),
            where=EscalationEvent.action != PURGE_ACTION),
    ]
    events = one(_rasa_events.c.sender_id, _rasa_events.c.timestamp) if tracker_store else None
    return queries, events


def _last_activity(session, tracker_store: bool,
                   conversation_id: Optional[str] = None) -> Tuple[Dict[str, dt.datetime], set]:
    """(latest activity per conversation, conversations with tracker events)."""
    last: Dict[str, dt.datetime] = {}
    queries, events = _activity_queries(tracker_store, conversation_id)
    for q in queries:
        _latest(last, session.execute(q))
    with_events = set()
    if events is not None:
        rows = [(conv, _from_epoch(ts)) for conv, ts in session.execute(events) if ts is not None]
        _latest(last, rows)
        with_events = {conv for conv, _ in rows}
    return last, with_events


def _with_content(session) -> set:
    """Conversations whose rows in our tables still hold something the purge removes."""
    found = set(session.scalars(select(UnansweredQuestion.conversation_id).distinct()))
    found |= set(session.scalars(select(ServedAnswer.conversation_id).distinct()))
    found |= set(session.scalars(select(Escalation.conversation_id).where(has_personal_fields()).distinct()))
    found |= set(session.scalars(select(Escalation.conversation_id).join(
        EscalationAttachment, EscalationAttachment.escalation_id == Escalation.id).distinct()))
    found |= set(session.scalars(select(Escalation.conversation_id).join(
        EscalationEvent, EscalationEvent.escalation_id == Escalation.id).where(unpurged_text()).distinct()))
    return found


def _open_escalations(session, conversation_id: Optional[str] = None) -> Dict[str, List[int]]:
    q = select(Escalation.conversation_id, Escalation.id).where(Escalation.status.in_(OPEN_STATUSES))
    if conversation_id is not None:
        q = q.where(Escalation.conversation_id == conversation_id)
    out: Dict[str, List[int]] = {}
    for conv, esc_id in session.execute(q.order_by(Escalation.id)):
        out.setdefault(conv, []).append(esc_id)
    return out


def _ensure_activity_index(url: str) -> None:
    """Rasa indexes events by sender only; the latest activity per conversation needs
    (sender, timestamp), or every run reads the whole table. Made once, in its own
    transaction (two workers may race to make it: the loser's error is harmless)."""
    try:
        with transaction(url) as s:
            if has_tracker_store(s):
                s.execute(text("CREATE INDEX IF NOT EXISTS ix_events_sender_timestamp "
                               "ON events (sender_id, timestamp)"))
    except Exception:  # noqa: BLE001 - made by the other worker, or not possible: only slower
        logger.debug("retention: activity index not created here", exc_info=True)


def due_conversations(url: str, cutoff: dt.datetime) -> Tuple[List[str], Dict[str, List[int]], bool]:
    """(conversations to purge, oldest activity first; those kept for an open escalation;
    whether Rasa's tracker store is in this database)."""
    _ensure_activity_index(url)
    with transaction(url) as s:
        tracker_store = has_tracker_store(s)
        last, with_events = _last_activity(s, tracker_store)
        content = _with_content(s) | with_events
        opened = _open_escalations(s)
    idle = sorted((at, conv) for conv, at in last.items() if conv in content and at <= cutoff)
    due = [conv for _, conv in idle if conv not in opened]
    kept = {conv: opened[conv] for _, conv in idle if conv in opened}
    return due, kept, tracker_store


def _purge_one(url: str, conversation_id: str, cutoff: dt.datetime, now: dt.datetime,
               tracker_store: bool) -> Tuple[str, object]:
    """("purged", Purged) | ("open", escalation ids) | ("active", None), decided again under
    the conversation's lock: it may have come back to life since it was found."""
    with transaction(url) as s:
        lock_conversation(s, conversation_id)
        opened = _open_escalations(s, conversation_id).get(conversation_id)
        if opened:
            return "open", opened
        last = _last_activity(s, tracker_store, conversation_id)[0].get(conversation_id)
        if last is None or last > cutoff:
            return "active", None
        levels = escalation_levels(s, conversation_id)
        done = purge_content(s, conversation_id, cutoff, RETENTION, tracker_store)
        if done.total():
            # Left incomplete: the deletion sweep purges again, for a while, anything older
            # than the cutoff that Rasa writes back (a patient returning at this very moment).
            s.add(DataDeletion(conversation_id=conversation_id, reason=RETENTION, requested_at=now,
                               cutoff_at=cutoff, escalation_levels=levels,
                               counts=json.dumps(done.as_dict(), sort_keys=True)))
        return "purged", done


def _expire_telegram_updates(url: str, cutoff: dt.datetime, now: dt.datetime) -> int:
    """An update still unprocessed after the whole retention period keeps the patient's text
    and name in its payload: drop it (it will not be processed this late anyway)."""
    with transaction(url) as s:
        return s.execute(update(TelegramUpdate).where(TelegramUpdate.status == "received",
                                                      TelegramUpdate.received_at <= cutoff)
                         .values(status="expired", payload="{}", processed_at=now)
                         .execution_options(synchronize_session=False)).rowcount or 0


def purge_expired(url: str, retention_days: int, now: Optional[dt.datetime] = None,
                  limit: int = BATCH) -> RetentionResult:
    """Purge up to `limit` conversations idle for more than `retention_days`."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    now = now or utcnow()
    result = RetentionResult(cutoff=now - dt.timedelta(days=retention_days))
    due, result.kept_open, tracker_store = due_conversations(url, result.cutoff)
    result.telegram_updates = _expire_telegram_updates(url, result.cutoff, now)
    result.dead_letters = purge_dead_letters(set_aside_before=result.cutoff.replace(
        tzinfo=dt.timezone.utc).timestamp())
    for conversation_id in due[:limit]:
        try:
            outcome, detail = _purge_one(url, conversation_id, result.cutoff, now, tracker_store)
        except Exception:  # noqa: BLE001 - one conversation must not stop the others' purge
            logger.exception("retention: conversation %s could not be purged; kept for now", conversation_id)
            continue
        if outcome == "open":
            result.kept_open[conversation_id] = detail
        elif outcome == "purged" and detail.total():
            result.purged[conversation_id] = detail
    # Only while purging makes progress, so a conversation that cannot be purged never keeps
    # the job running every round.
    result.more = len(due) > limit and bool(result.purged)
    return result


class RetentionJob:
    """Runs `purge_expired` when due: at once, then every RUN_EVERY, and in the very next
    worker round while a backlog remains. Failures are logged and retried at the next run."""

    def __init__(self, url: str, retention_days: int, every: dt.timedelta = RUN_EVERY, batch: int = BATCH,
                 clock: Callable[[], float] = time.monotonic):
        self.url, self.days, self.every, self.batch, self.clock = url, retention_days, every, batch, clock
        self.next_at = clock()

    def run_if_due(self) -> Optional[RetentionResult]:
        if self.clock() < self.next_at:
            return None
        self.next_at = self.clock() + self.every.total_seconds()
        try:
            result = purge_expired(self.url, self.days, limit=self.batch)
        except Exception:  # noqa: BLE001 - the worker's other duties go on; retried next run
            logger.exception("retention run failed")
            return None
        if result.more:
            self.next_at = self.clock()
        if result.purged:
            logger.info("retention: purged %d conversation(s) with no activity for %d days (audit stubs in "
                        "data_deletions)%s", len(result.purged), self.days, "; more to do" if result.more else "")
        if result.dead_letters:
            logger.info("retention: deleted %d dead letter(s) set aside before the retention period",
                        result.dead_letters)
        if result.telegram_updates:
            logger.info("retention: dropped the payload of %d Telegram update(s) never processed",
                        result.telegram_updates)
        if result.kept_open:
            ids = sorted(i for esc in result.kept_open.values() for i in esc)
            logger.warning("retention: %d conversation(s) with no activity for %d days are kept because an "
                           "escalation is still unresolved (escalations %s): resolve them in the staff console "
                           "and they are purged once idle for the retention period",
                           len(result.kept_open), self.days, ", ".join(map(str, ids)))
        return result
