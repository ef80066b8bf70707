"""Reply to a symptom report by level, escalating warning signs to staff before replying."""
from __future__ import annotations

import datetime as dt
import logging
import re
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.details import FORM as DETAILS_FORM
from actions.details import details_missing
from actions.knowledge import send_entry, serve
from actions.services import (channel_of, clinic, escalate, knowledge_base, say, selector,
                              yes_no_buttons)
from bot.config.clinic import urgent_reply_key
from bot.escalation.details import staff_can_reach
from bot.knowledge.serving import Decision
from bot.escalation.levels import ESCALATING_LEVELS, more_serious
from bot.escalation.store import symptom_records

logger = logging.getLogger(__name__)
TREATMENT_DATE_SLOT = "treatment_date"
SYMPTOM_INTENT = "report_symptom"
# Entries the routine reply already gives or that repeat it.
ROUTINE_COVERED = ("side_effects", "when_to_report", "safety")
QUESTION_WORDS = re.compile(
    r"(\?|^\s*(what|how|when|why|where|which|who|can|could|should|is|are|do|does|will|would|may)\b"
    r"|[.!,;:-]\s*(what|how|when|why|where|which|can|could|should|is|are|do|does|will|would|may) )",
    re.IGNORECASE)


def ask_guided_check(dispatcher: CollectingDispatcher, level: str) -> None:
    """The protocol's red-flag questions as buttons (triage/guided_check.yml); a "yes" is sent
    as a message the triage step escalates at its level."""
    from bot.triage.guided_check import guided_check

    say(dispatcher, "guided_check", label="guided_check", buttons=guided_check().buttons(),
        triage_level=level)


class ActionGuidedCheckNone(Action):
    """"None of these": the routine advice, with the signs that would need a call."""

    def name(self) -> Text:
        return "action_guided_check_none"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        say(dispatcher, "guided_check_none", label="triage", triage_level="routine")
        say(dispatcher, "triage_routine_watch", label="triage", triage_level="routine")
        return []


def asks_something(text: str) -> bool:
    """A question mark, or a clause that starts as a question does."""
    return bool(QUESTION_WORDS.search(text or ""))


def encoder_agrees(message: Dict[str, Any], decision: Decision) -> bool:
    """The encoder's nearest entry for a clause without a symptom is the one chosen."""
    clauses = _without_symptom_clauses(message)["clauses"]
    best = max((c for c in clauses if str(c.get("intent", "")).startswith("kb_")),
               key=lambda c: c.get("score") or 0.0, default=None)
    return best is not None and best.get("intent") == decision.entry.intent


def _without_symptom_clauses(message: Dict[str, Any]) -> Dict[str, Any]:
    """The encoder's view of the message minus the clauses that hold a triage finding: the
    question in "my lips are swelling, can I take ibuprofen?" is the second clause."""
    semantic = message.get("semantic_answer") or {}
    findings = ((message.get("triage") or {}).get("findings") or [])
    spans = [(f.get("start", 0), f.get("end", 0)) for f in findings]
    clauses = [c for c in semantic.get("clauses") or []
               if not any(a < c.get("end", 0) and c.get("start", 0) < b for a, b in spans)]
    return {"clauses": clauses}


@lru_cache(maxsize=1)
def engine():
    from bot.triage.engine import TriageEngine

    return TriageEngine()


def days_since(date_text: Optional[str], today: Optional[dt.date] = None) -> Optional[int]:
    if not date_text:
        return None
    try:
        days = ((today or dt.date.today()) - dt.date.fromisoformat(str(date_text)[:10])).days
    except ValueError:
        return None
    return days if days >= 0 else None


def treated_earlier(tracker: Tracker) -> bool:
    """Whether an earlier message in this session linked symptoms to a past treatment."""
    start = max((i for i, e in enumerate(tracker.events) if e.get("event") == "session_started"), default=0)
    users = [e for e in tracker.events[start:] if e.get("event") == "user"][:-1]
    return any(((e.get("parse_data") or {}).get("triage") or {}).get("treated") for e in users)


def patient_reachable(tracker: Tracker) -> bool:
    """Whether staff can get in touch with this patient soon. Read from the conversation (its
    channel, the phone number slot of the details form), never the database: the urgent reply
    must go out even when the database is down."""
    return staff_can_reach(channel_of(tracker), tracker.get_slot("contact"))


class ActionTriageResponse(Action):
    def name(self) -> Text:
        return "action_triage_response"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        triage = dict(message.get("triage") or {})
        level = triage.get("level") or "none"
        findings = triage.get("findings") or []
        events: List[EventType] = []

        # The NLU step sees one message; what earlier turns said (the treatment date, that
        # the person was treated) can only make the level more serious, never less.
        said_days = triage.get("days_since_treatment")
        # A date given in this message is the newest fact (a second session); a remembered one
        # only counts when the message gives none.
        known_days = None if said_days is not None else days_since(tracker.get_slot(TREATMENT_DATE_SLOT))
        earlier = treated_earlier(tracker)
        if known_days is not None or earlier:
            ctx = engine().assess(text, days=known_days, treated=earlier)
            if more_serious(ctx.level, level) != level:
                level, findings = ctx.level, [vars(f) for f in ctx.findings]
        if said_days is not None:
            date = dt.date.today() - dt.timedelta(days=int(said_days))
            if tracker.get_slot(TREATMENT_DATE_SLOT) != date.isoformat():
                events.append(SlotSet(TREATMENT_DATE_SLOT, date.isoformat()))

        ask_details = False
        if level in ESCALATING_LEVELS:
            # After the warning-sign reply, ask for the details staff need, unless the form is
            # already running (a second symptom mid-form) or everything is known.
            ask_details = not tracker.active_loop.get("name") and details_missing(tracker)
            # Written now, or spooled and retried until it lands: the safety reply below
            # never waits for (or depends on) the database.
            escalate(
                conversation_id=tracker.sender_id, channel=channel_of(tracker),
                sender_id=tracker.sender_id, level=level, reason="symptoms",
                trigger_message=text,
                symptoms=symptom_records(findings),
            )
        if level == "emergency":
            say(dispatcher, "triage_emergency", label="triage", triage_level=level)
            say(dispatcher, "triage_emergency_staff", label="triage", triage_level=level)
        elif level == "urgent":
            say(dispatcher, urgent_reply_key(clinic(), patient_reachable(tracker)), label="triage",
                triage_level=level)
            say(dispatcher, "triage_meanwhile", label="triage", triage_level=level)
            events += self._serve(dispatcher, tracker, "when_to_report", level)
            events += self._answer_question_too(dispatcher, tracker, message, escalating=True)
        elif level == "routine":
            say(dispatcher, "triage_routine_intro", label="triage", triage_level=level)
            events += self._serve(dispatcher, tracker, "side_effects", level)
            events += self._answer_question_too(dispatcher, tracker, message)
            ask_guided_check(dispatcher, level)
        else:
            # Nothing to act on (denied, hypothetical or resolved symptoms): if the message
            # also asks a question the knowledge base answers, answer that.
            only_denied = bool(findings) and all("NEGATED" in (f.get("modifiers") or []) for f in findings)
            decision = self._question_in(message, tracker, skip=ROUTINE_COVERED if only_denied else ())
            if decision is not None:
                return events + serve(dispatcher, tracker, decision, text)
            say(dispatcher, "triage_unclear", label="triage", triage_level=level)
            events += self._serve(dispatcher, tracker, "when_to_report", level)
            if triage.get("body_report") or triage.get("near"):
                # Something about the body, but no red flag found: ask, rather than guess.
                ask_guided_check(dispatcher, level)
            else:
                say(dispatcher, "triage_offer_staff", label="triage", buttons=yes_no_buttons(),
                    offer="handoff", question=text[:500])
        if ask_details:
            events.append(FollowupAction(DETAILS_FORM))
        return events

    def _answer_question_too(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                             message: Dict[str, Any], escalating: bool = False) -> List[EventType]:
        """"A bit red since yesterday - can I go to the gym?": after the safety reply, the
        question gets its answer too (not after an emergency: that reply stays focused). In a
        turn that escalates, only a real question that the classifier and the encoder agree
        on: a statement's guessed topic would only bury the safety advice."""
        decision = self._question_in(message, tracker)
        if decision is None or decision.entry.id in ROUTINE_COVERED:
            return []
        if escalating and not (asks_something(message.get("text") or "")
                               and (decision.how == "exact_question" or encoder_agrees(message, decision))):
            return []
        return send_entry(dispatcher, tracker, decision.entry, decision.how, decision.confidence)

    @staticmethod
    def _question_in(message: Dict[str, Any], tracker: Tracker, skip=()) -> Optional[Decision]:
        """The knowledge answer the classifier found, ignoring its symptom-report guess.
        `skip`: topics not to take; "no swelling, no redness - when will I see results?" is
        not a question about side effects, whatever the symptom words made the classifier
        think."""
        skipped = {SYMPTOM_INTENT, "nlu_fallback"} | {f"kb_{t}" for t in skip}
        ranking = [r for r in message.get("intent_ranking") or [] if r.get("name") not in skipped]
        # Confidence that it is this question, given that it is not a symptom report.
        total = sum(r.get("confidence") or 0.0 for r in ranking)
        if total > 0:
            ranking = [{**r, "confidence": (r.get("confidence") or 0.0) / total} for r in ranking]
        decision = selector().decide(message.get("text") or "", ranking,
                                     semantic=_without_symptom_clauses(message))
        return decision if decision.kind == "answer" else None

    @staticmethod
    def _serve(dispatcher: CollectingDispatcher, tracker: Tracker, entry_id: str,
               level: str) -> List[EventType]:
        events = send_entry(dispatcher, tracker, knowledge_base().get(entry_id), f"triage_{level}",
                            triage_level=level)
        if not events:
            # The entry is not servable (never signed in production, or retired): the patient
            # still learns which signs need a call, from the fixed safety text.
            say(dispatcher, "triage_routine_watch", label="triage", triage_level=level)
        return events
