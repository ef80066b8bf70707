"""SQLAlchemy models (1.4, written in the 2.0 style: Column models and select() queries).

Rasa's SQLTrackerStore keeps the transcript in its own `events` table in the same database;
these tables hold what our assistant adds on top of it.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, UniqueConstraint, false, text)
from sqlalchemy.orm import declarative_base, deferred

Base = declarative_base()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class UnansweredQuestion(Base):
    """A question the knowledge base had no vetted answer for, kept for staff curation."""

    __tablename__ = "unanswered_questions"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    text = Column(Text, nullable=False)
    # What the classifier guessed, so staff can see near misses when curating.
    best_guess = Column(String(255))
    confidence = Column(Float)
    reason = Column(String(32), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)


class ServedAnswer(Base):
    """Which vetted text (entry id + content hash) a patient was shown, and when."""

    __tablename__ = "served_answers"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    entry_id = Column(String(128), nullable=False, index=True)
    entry_version = Column(String(64), nullable=False)
    confidence = Column(Float)
    how = Column(String(32), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    # The knowledge_versions row served (None before versions were kept in the database). No
    # foreign key: this log outlives any change to the knowledge base.
    knowledge_version_id = Column(Integer)


class Escalation(Base):
    """A conversation put in front of staff: a warning sign, a request for a person, or a
    question the knowledge base could not answer that the patient asked us to pass on."""

    __tablename__ = "escalations"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    sender_id = Column(String(255), nullable=False)
    # emergency | urgent | routine | none (none: a request for a person or a passed-on question)
    level = Column(String(16), nullable=False, index=True)
    reason = Column(String(32), nullable=False)  # symptoms | human_request | question
    status = Column(String(16), nullable=False, default="open", index=True)
    assignee = Column(String(128))
    trigger_message = Column(Text)
    symptoms = Column(Text)  # JSON list of {label, level, text, start, end}
    contact_name = Column(String(255))
    contact = Column(String(255))
    treatment_date = Column(String(10))
    outcome = Column(String(64))
    # Staff took over the conversation: the assistant stays quiet (except for emergencies).
    assistant_paused = Column(Boolean, nullable=False, default=False, server_default=false())
    paused_by = Column(String(64))
    safety_net_sent_at = Column(DateTime)
    acknowledged_at = Column(DateTime)
    resolved_at = Column(DateTime)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    # One open escalation per conversation, enforced by the database itself: two replicas
    # handling warning signs of one conversation at once cannot both create one.
    __table_args__ = (
        Index("uq_open_escalation_per_conversation", "conversation_id", unique=True,
              postgresql_where=text("status IN ('open', 'acknowledged')"),
              sqlite_where=text("status IN ('open', 'acknowledged')")),
    )


class EscalationEvent(Base):
    """The trail of an escalation: raised, level raised, details given, staff actions, notes."""

    __tablename__ = "escalation_events"

    id = Column(Integer, primary_key=True)
    escalation_id = Column(Integer, ForeignKey("escalations.id", ondelete="CASCADE"),
                           nullable=False, index=True)
    actor = Column(String(128), nullable=False)  # "assistant", "system" or a staff user name
    action = Column(String(32), nullable=False)
    detail = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class OutboxMessage(Base):
    """A staff notification waiting to be delivered; written in the same transaction as the
    escalation so that a notifier being down can delay it but never lose it."""

    __tablename__ = "outbox"

    id = Column(Integer, primary_key=True)
    escalation_id = Column(Integer, ForeignKey("escalations.id", ondelete="SET NULL"), index=True)
    notifier = Column(String(32), nullable=False)
    payload = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    last_error = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    delivered_at = Column(DateTime)


class DataDeletion(Base):
    """Audit stub left when a conversation's content is purged, at the patient's request or at
    the end of the retention period: no content, only that it happened, why, and how much."""

    __tablename__ = "data_deletions"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    # patient_request | retention
    reason = Column(String(32), nullable=False, default="patient_request", server_default="patient_request")
    requested_at = Column(DateTime, nullable=False, default=utcnow)
    # Content up to this moment is purged (and swept again while Rasa may write it back);
    # None: up to requested_at. For retention: the start of the retention period.
    cutoff_at = Column(DateTime)
    completed_at = Column(DateTime, index=True)
    escalation_levels = Column(String(255))  # e.g. "urgent,none": what was raised, not why
    # JSON counts of what was removed, e.g. {"tracker_events": 14, "escalations": 1, ...}
    counts = Column(Text)


class TelegramUpdate(Base):
    """Every Telegram update, recorded before the webhook answers 200: a redelivered update is
    recognised by its id, and one whose processing crashed is picked up again at start."""

    __tablename__ = "telegram_updates"

    update_id = Column(BigInteger, primary_key=True, autoincrement=False)
    payload = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, default="received", index=True)
    received_at = Column(DateTime, nullable=False, default=utcnow)
    processed_at = Column(DateTime)


class EscalationAttachment(Base):
    """A photo a patient sent while their escalation was open; shown to staff only."""

    __tablename__ = "escalation_attachments"

    id = Column(Integer, primary_key=True)
    escalation_id = Column(Integer, ForeignKey("escalations.id", ondelete="CASCADE"), nullable=False, index=True)
    content_type = Column(String(64), nullable=False)
    size = Column(Integer, nullable=False)
    # Up to 5 MB each: loaded only when asked for (the console's photo route), never by a
    # query that lists or counts attachments.
    data = deferred(Column(LargeBinary, nullable=False))
    created_at = Column(DateTime, nullable=False, default=utcnow)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)  # argon2id
    role = Column(String(16), nullable=False, default="staff")  # staff | clinician | admin
    active = Column(Boolean, nullable=False, default=True)
    failed_attempts = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime)
    last_login_at = Column(DateTime)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "staff_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    user_id = Column(Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)
    ended_at = Column(DateTime)


class AuditEntry(Base):
    """Every view of a conversation and every change made in the console. Append-only: the
    console has no route that edits or deletes these."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    actor = Column(String(64), nullable=False)
    action = Column(String(32), nullable=False)
    target = Column(String(64))
    detail = Column(Text)


class KnowledgeEntryRecord(Base):
    """One knowledge entry, by its id (bot/knowledge/checks.py ID_PATTERN). Its text is in
    knowledge_versions; retired entries are kept (with their versions) but never served."""

    __tablename__ = "knowledge_entries"

    id = Column(String(64), primary_key=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    created_by = Column(String(64), nullable=False)
    retired_at = Column(DateTime)
    retired_by = Column(String(64))


class KnowledgeVersion(Base):
    """Every save of an entry: never changed afterwards (only sent for sign-off), so a served
    answer can always be traced to the exact text and who wrote it."""

    __tablename__ = "knowledge_versions"

    id = Column(Integer, primary_key=True)
    entry_id = Column(String(64), ForeignKey("knowledge_entries.id", ondelete="CASCADE"), nullable=False, index=True)
    number = Column(Integer, nullable=False)  # 1, 2, 3... per entry
    title = Column(String(255), nullable=False)
    questions = Column(Text, nullable=False)  # JSON list
    answer = Column(Text, nullable=False)
    source = Column(Text, nullable=False)  # JSON list of passages quoted from the article
    authored_by = Column(String(16), nullable=False, default="article", server_default="article")
    author = Column(String(64), nullable=False)
    note = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    submitted_at = Column(DateTime)  # sent for sign-off; None: a draft

    # Two staff saving the same entry at once cannot both create its next number.
    __table_args__ = (UniqueConstraint("entry_id", "number", name="uq_knowledge_version_number"),)


class KnowledgeSignoff(Base):
    """A clinician's signature on one version, which publishes it. One per version."""

    __tablename__ = "knowledge_signoffs"

    id = Column(Integer, primary_key=True)
    version_id = Column(Integer, ForeignKey("knowledge_versions.id", ondelete="CASCADE"), nullable=False,
                        unique=True)
    signer = Column(String(64), nullable=False)
    signer_role = Column(String(16), nullable=False)
    signed_at = Column(DateTime, nullable=False, default=utcnow)


class KnowledgeRevision(Base):
    """One row (id 1), written in every transaction that changes the knowledge base: the action
    server compares its number at each message and reloads only when it moved. Its presence
    means the tables were seeded from knowledge/."""

    __tablename__ = "knowledge_revision"

    id = Column(Integer, primary_key=True, autoincrement=False)
    revision = Column(Integer, nullable=False, default=0)
    seeded_at = Column(DateTime, nullable=False, default=utcnow)


class ModelBuild(Base):
    """A model trained from the knowledge base's published questions (bot/knowledge/retrain.py),
    or the model trained from the files, once the published set matches them again. `inputs` is
    the hash of everything the model is trained from; `code_inputs` the hash of all of it but the
    knowledge base's generated files, so a build trained with other code or pipeline (an
    upgrade since) is never served. The Rasa server serves the ready build that became live
    last, and the one before it serves until a new one is ready."""

    __tablename__ = "model_builds"

    id = Column(Integer, primary_key=True)
    inputs = Column(String(64), nullable=False, unique=True)
    code_inputs = Column(String(64), nullable=False)       # the same, without the knowledge base's files
    state = Column(String(16), nullable=False)             # training | ready | failed
    model_file = Column(String(255), nullable=True)        # relative to models/
    model_sha256 = Column(String(64), nullable=True)
    knowledge_revision = Column(Integer, nullable=False)
    error = Column(Text, nullable=True)
    started_at = Column(DateTime, nullable=False, default=utcnow)
    finished_at = Column(DateTime, nullable=True)
    live_since = Column(DateTime, nullable=True, index=True)
