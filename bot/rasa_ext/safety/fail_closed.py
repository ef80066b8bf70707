"""Make the Rasa server fail closed and safe (issue 7, docs/reliability.md "When a part is down").

Two behaviours of Rasa 3.6 are unsafe for a clinic, and are changed here in the Rasa server
process (and wherever Rasa runs in-process: the evaluation driver, the tests):

1. When the action server is down or slow, Rasa logs the error and the patient gets no reply.
   Here a custom action that fails or takes longer than ACTION_TIMEOUT_SECONDS (default 10)
   is replaced by the degraded turn: the safety text for the message's triage level, and a
   warning sign is recorded as an escalation from the Rasa server itself (spooled and retried
   if the database is down too), so it never depends on the action server.
2. Rasa wraps every tracker store in FailSafeTrackerStore, which on a read error returns no
   tracker, so the conversation silently starts again empty (forgetting, say, the treatment
   date that made a symptom urgent). Here a failed read raises TrackerStoreUnavailable: the
   channel answers with the fail-closed reply and keeps the message for replay
   (bot/channels/pause.py). A failed write is retried, then the tracker is spooled and
   written when the database is back, instead of going to a throw-away in-memory store.

The replacements are registered with bot/rasa_ext/registry.py and applied by
`bot.rasa_ext.install_for_rasa()`.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, List, Optional

from rasa.core.actions import action as rasa_action
from rasa.core import tracker_store as rasa_tracker_store
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext.registry import SAFETY, replace
from bot.resilience import fallback, replay
from bot.resilience.spool import Spool
from bot.resilience.tracker_spool import TRACKERS, TrackerStoreUnavailable, write_spooled

logger = logging.getLogger(__name__)
SAVE_ATTEMPTS = 3


def action_timeout() -> float:
    return float(os.environ.get("ACTION_TIMEOUT_SECONDS") or 10)


# --- 1. the action server is down or slow ---------------------------------------------------

_original_run = rasa_action.RemoteAction.run


async def _run_or_degrade(self, output_channel, nlg, tracker, domain) -> List[Any]:
    try:
        return await asyncio.wait_for(_original_run(self, output_channel, nlg, tracker, domain),
                                      action_timeout())
    except rasa_action.ActionExecutionRejection:
        raise  # a form rejecting input: Rasa's own handling is right
    except Exception as exc:  # noqa: BLE001 - connection refused, 5xx, timeout, bad response
        # Also for a form's validate_* action: Rasa's FormAction would otherwise lose the turn
        # in silence, and a patient in the details form may be reporting an emergency.
        logger.error("custom action %s failed (%s): sending the degraded turn", self.name(),
                     type(exc).__name__)
        if self.name() == rasa_action.ACTION_SESSION_START_NAME:
            # Start the session without the disclaimer (the message's own turn says what is
            # wrong, once) and carry over only what our own session start would: not the
            # patient's name or contact (stock Rasa would carry every slot), and nothing after
            # the retention period.
            from bot.privacy.carry_over import CARRIED_OVER_SLOTS, within_retention

            recent = within_retention(e.timestamp for e in tracker.events)
            carried = [SlotSet(s, tracker.get_slot(s)) for s in CARRIED_OVER_SLOTS
                       if recent and s in tracker.slots and tracker.get_slot(s) is not None]
            return [SessionStarted(), *carried, ActionExecuted(rasa_action.ACTION_LISTEN_NAME)]
        return await degraded_turn(tracker)


def _degraded_already(tracker: DialogueStateTracker) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and (event.metadata or {}).get("label") == fallback.LABEL:
            return True
    return False


async def degraded_turn(tracker: DialogueStateTracker) -> List[Any]:
    """Once per user message, however many actions fail in that turn."""
    if _degraded_already(tracker):
        return []
    message = tracker.latest_message
    parse = message.parse_data if message else {}
    level = fallback.level_of(parse)
    if fallback.escalates(level):
        message_text = (message.text or "") if message else ""
        await asyncio.get_running_loop().run_in_executor(
            None, fallback.escalate, tracker.sender_id, tracker.get_latest_input_channel() or "unknown",
            message_text, parse, level, "assistant (action server unavailable)")
    return [rasa_action.create_bot_utterance({"text": text, "label": fallback.LABEL, "triage_level": level})
            for text in fallback.degraded_texts(level)]


replace(rasa_action.RemoteAction, "run", _run_or_degrade, name="safety.action_failure_degrades", kind=SAFETY,
        library="rasa",
        why="a custom action that fails or times out gives the degraded turn (safety text, "
            "warning signs escalated from the Rasa server) instead of no reply")


# --- 2. the tracker store cannot be read or written --------------------------------------------

async def _retrieve(self: FailSafeTrackerStore, sender_id: str) -> Optional[DialogueStateTracker]:
    try:
        await write_spooled(self, sender_id)
        return await self._tracker_store.retrieve(sender_id)
    except TrackerStoreUnavailable:
        raise
    except Exception as exc:
        logger.error("tracker store unavailable (%s): failing closed", type(exc).__name__)
        raise TrackerStoreUnavailable(sender_id) from exc


async def _retrieve_full(self: FailSafeTrackerStore, sender_id: str) -> Optional[DialogueStateTracker]:
    try:
        await write_spooled(self, sender_id)
        return await self._tracker_store.retrieve_full_tracker(sender_id)
    except TrackerStoreUnavailable:
        raise
    except Exception as exc:
        logger.error("tracker store unavailable (%s): failing closed", type(exc).__name__)
        raise TrackerStoreUnavailable(sender_id) from exc


async def _save(self: FailSafeTrackerStore, tracker: DialogueStateTracker) -> None:
    delay = 0.2
    for attempt in range(SAVE_ATTEMPTS):
        try:
            await self._tracker_store.save(tracker)
            return
        except Exception as exc:  # noqa: BLE001
            last = exc
            if attempt + 1 < SAVE_ATTEMPTS:
                await asyncio.sleep(delay)
                delay *= 3
    from rasa.shared.core.trackers import EventVerbosity

    state = tracker.current_state(EventVerbosity.ALL)
    Spool(TRACKERS).put({"sender_id": tracker.sender_id, "events": state["events"]},
                        sender=tracker.sender_id, replace=True)
    logger.error("tracker for a conversation spooled after %d failed writes (%s)", SAVE_ATTEMPTS,
                 type(last).__name__)
    replay.kick()


# Rasa's SQL tracker store engine: check a pooled connection before use (so the first
# message after a database restart is not refused on a dead connection) and, on PostgreSQL,
# give up connecting after 5 s instead of hanging the event loop; on every database, keep the
# parameters of a failed statement (message texts) out of the error text that gets logged.
_original_engine_kwargs = rasa_tracker_store.create_engine_kwargs


def _engine_kwargs(url):
    kwargs = dict(_original_engine_kwargs(url))
    kwargs["hide_parameters"] = True
    if rasa_tracker_store.is_postgresql_url(url):
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "connect_timeout": 5}
    return kwargs


replace(rasa_tracker_store, "create_engine_kwargs", _engine_kwargs, name="safety.tracker_store_engine",
        kind=SAFETY, library="rasa",
        why="pre-ping pooled connections and a connect timeout on PostgreSQL; failed statements' "
            "parameters (patient text) kept out of error messages")
replace(FailSafeTrackerStore, "retrieve", _retrieve, name="safety.tracker_read_fails_closed", kind=SAFETY,
        library="rasa",
        why="a failed read raises TrackerStoreUnavailable instead of silently starting the "
            "conversation again empty")
replace(FailSafeTrackerStore, "retrieve_full_tracker", _retrieve_full, name="safety.full_tracker_read_fails_closed",
        kind=SAFETY, library="rasa", why="as safety.tracker_read_fails_closed, for the full tracker")
replace(FailSafeTrackerStore, "save", _save, name="safety.tracker_write_spooled", kind=SAFETY, library="rasa",
        why="a failed write is retried, then spooled and written when the database is back, "
            "instead of going to a throw-away in-memory store")
