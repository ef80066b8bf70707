"""The knowledge base as the clinic runs it: entries, their versions and sign-offs, in the
database (bot/storage/models.py), seeded from knowledge/ on first use (the entries, then the
proposed wording in knowledge/proposals/).

The rules live here, not only in the console's forms, so no caller can skip them:
- every save is a new, numbered version; a version's content never changes afterwards;
- content passes bot/knowledge/checks.py (the file loader's rules) before it is stored, and
  a question belongs to one entry;
- only a signing role (SIGNING_ROLES) signs; nobody signs a version they wrote; a signature
  publishes that version, and a version older than the published one cannot be signed;
- every change writes the audit log and moves knowledge_revision in the same transaction, so
  the action server (bot/knowledge/live.py) serves it from the next message.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.config import paths
from bot.knowledge import checks, proposals
from bot.knowledge.checks import Problem
from bot.knowledge.entry import KnowledgeEntry
from bot.knowledge.loader import KnowledgeBase, load_article, load_knowledge_base, load_topics
from bot.knowledge.proposals import ProposalError
from bot.storage.db import transaction
from bot.storage.models import (AuditEntry, KnowledgeEntryRecord, KnowledgeRevision, KnowledgeSignoff,
                                KnowledgeVersion, utcnow)

logger = logging.getLogger(__name__)
SIGNING_ROLES = ("clinician",)
SEED_AUTHOR = "knowledge/ files"
PENDING = "pending"
MAX_NOTE = 500
DRAFT, AWAITING, PUBLISHED, RETIRED = "draft", "awaiting sign-off", "published", "retired"
PROPOSAL_REFUSED = "knowledge_proposal_refused"


class KnowledgeStoreError(ValueError):
    """A change refused by a rule; the message says which, in words for staff."""


class ContentRefused(KnowledgeStoreError):
    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class Conflict(KnowledgeStoreError):
    """Someone saved the entry after the editor opened it."""


@dataclass(frozen=True)
class Version:
    id: int
    entry_id: str
    number: int
    title: str
    questions: Tuple[str, ...]
    answer: str
    source: Tuple[str, ...]
    authored_by: str
    author: str
    note: Optional[str]
    created_at: dt.datetime
    submitted_at: Optional[dt.datetime]
    signer: Optional[str] = None
    signer_role: Optional[str] = None
    signed_at: Optional[dt.datetime] = None

    @property
    def state(self) -> str:
        return PUBLISHED if self.signer else AWAITING if self.submitted_at else DRAFT

    @property
    def words(self) -> int:
        return len(self.answer.split())

    @property
    def clinic_authored(self) -> bool:
        return self.authored_by == checks.CLINIC

    def as_entry(self) -> KnowledgeEntry:
        """The version as the loader would read it from an exported file: signed versions
        carry their signer and date, so the content hash matches the export's."""
        return KnowledgeEntry(
            id=self.entry_id, title=self.title, questions=self.questions, answer=self.answer,
            source=self.source, reviewed_by=self.signer or PENDING,
            reviewed_on=self.signed_at.date().isoformat() if self.signed_at else PENDING,
            path=f"database: {self.entry_id} version {self.number}", authored_by=self.authored_by)


@dataclass(frozen=True)
class Entry:
    id: str
    created_at: dt.datetime
    created_by: str
    retired_at: Optional[dt.datetime]
    retired_by: Optional[str]
    versions: Tuple[Version, ...]  # oldest first

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def published(self) -> Optional[Version]:
        """The latest signed version: what patients are served."""
        return next((v for v in reversed(self.versions) if v.signer), None)

    @property
    def state(self) -> str:
        return RETIRED if self.retired_at else self.latest.state

    def served(self, production: bool) -> Optional[Version]:
        """The published version; an entry never published is served as its latest version in
        development only (the console says so), never in production."""
        if self.retired_at:
            return None
        return self.published or (None if production else self.latest)

    def version(self, number: int) -> Optional[Version]:
        return next((v for v in self.versions if v.number == number), None)


# ---------------------------------------------------------------------------------------------
# Reading

def revision(url: str) -> Optional[int]:
    """The knowledge base's change counter; None before it was seeded."""
    with transaction(url) as s:
        return s.scalar(select(KnowledgeRevision.revision).where(KnowledgeRevision.id == 1))


def _version(row: KnowledgeVersion, sign: Optional[KnowledgeSignoff]) -> Version:
    return Version(id=row.id, entry_id=row.entry_id, number=row.number, title=row.title,
                   questions=tuple(json.loads(row.questions)), answer=row.answer,
                   source=tuple(json.loads(row.source)), authored_by=row.authored_by, author=row.author,
                   note=row.note, created_at=row.created_at, submitted_at=row.submitted_at,
                   signer=sign.signer if sign else None, signer_role=sign.signer_role if sign else None,
                   signed_at=sign.signed_at if sign else None)


def _load(session, entry_ids: Optional[Iterable[str]] = None) -> List[Entry]:
    q_entries = select(KnowledgeEntryRecord).order_by(KnowledgeEntryRecord.id)
    q_versions = select(KnowledgeVersion, KnowledgeSignoff).outerjoin(
        KnowledgeSignoff, KnowledgeSignoff.version_id == KnowledgeVersion.id).order_by(KnowledgeVersion.number)
    if entry_ids is not None:
        ids = list(entry_ids)
        q_entries = q_entries.where(KnowledgeEntryRecord.id.in_(ids))
        q_versions = q_versions.where(KnowledgeVersion.entry_id.in_(ids))
    versions: Dict[str, List[Version]] = {}
    for row, sign in session.execute(q_versions):
        versions.setdefault(row.entry_id, []).append(_version(row, sign))
    return [Entry(id=e.id, created_at=e.created_at, created_by=e.created_by, retired_at=e.retired_at,
                  retired_by=e.retired_by, versions=tuple(versions[e.id]))
            for e in session.scalars(q_entries) if versions.get(e.id)]


def all_entries(url: str) -> List[Entry]:
    ensure_seeded(url)
    with transaction(url) as s:
        return _load(s)


def get_entry(url: str, entry_id: str) -> Optional[Entry]:
    ensure_seeded(url)
    with transaction(url) as s:
        found = _load(s, [entry_id])
    return found[0] if found else None


def get_version(url: str, version_id: int) -> Optional[Version]:
    with transaction(url) as s:
        row = s.get(KnowledgeVersion, version_id)
        if row is None:
            return None
        sign = s.scalar(select(KnowledgeSignoff).where(KnowledgeSignoff.version_id == row.id))
        return _version(row, sign)


def unsigned_served(url: str) -> List[str]:
    """Entries served in development although no one signed them (the console's banner)."""
    return [e.id for e in all_entries(url) if not e.retired_at and e.published is None]


# ---------------------------------------------------------------------------------------------
# Writing

def _audit(session, actor: str, action: str, entry_id: str, detail: Optional[str] = None) -> None:
    session.add(AuditEntry(actor=actor[:64], action=action, target=f"knowledge:{entry_id}"[:64], detail=detail))


def _bump(session) -> None:
    session.execute(update(KnowledgeRevision).where(KnowledgeRevision.id == 1)
                    .values(revision=KnowledgeRevision.revision + 1))


def _add_version(session, entry_id: str, number: int, content: checks.Content, author: str,
                 note: Optional[str], submitted: bool) -> KnowledgeVersion:
    row = KnowledgeVersion(entry_id=entry_id, number=number, title=content.title,
                           questions=json.dumps(list(content.questions)), answer=content.answer,
                           source=json.dumps(list(content.source)), authored_by=content.authored_by,
                           author=author, note=note, submitted_at=utcnow() if submitted else None)
    session.add(row)
    session.flush()
    return row


def ensure_seeded(url: str, kb: Optional[KnowledgeBase] = None,
                  proposals_dir: Path = paths.PROPOSALS_DIR) -> bool:
    """On first use, every entry of knowledge/ becomes an entry with version 1, written by
    "knowledge/ files" and awaiting sign-off (signed if the file says who signed it, and when);
    then every proposals file in `proposals_dir`, by name, is saved as those entries' next
    versions, awaiting sign-off (a refused file is logged and audited, not raised).
    Idempotent, and safe when several processes start at once: the revision row is inserted
    in the same transaction, and only one can insert it. Returns whether this call seeded."""
    if revision(url) is not None:
        return False
    kb = kb or load_knowledge_base()
    try:
        with transaction(url) as s:
            s.add(KnowledgeRevision(id=1, revision=1))
            s.flush()
            for e in kb:
                s.add(KnowledgeEntryRecord(id=e.id, created_by=SEED_AUTHOR))
                s.flush()
                content = checks.Content(e.id, e.title, e.questions, e.answer, e.source, e.authored_by)
                row = _add_version(s, e.id, 1, content, SEED_AUTHOR, "from knowledge/entries", submitted=True)
                if e.reviewed:
                    signed = dt.datetime.combine(dt.date.fromisoformat(e.reviewed_on), dt.time())
                    s.add(KnowledgeSignoff(version_id=row.id, signer=e.reviewed_by[:64], signer_role="file",
                                           signed_at=signed))
            s.add(AuditEntry(actor="system", action="knowledge_seeded", target="knowledge",
                             detail=f"{len(kb)} entries from knowledge/"))
    except IntegrityError:
        return False  # another process seeded first
    logger.info("knowledge base seeded from knowledge/ (%d entries)", len(kb))
    # Only the process that seeded applies the proposals, so processes starting together do
    # not race to save the same wording; every other caller already sees a seeded database.
    _propose_at_seeding(url, proposals_dir)
    return True


def _question_owners(entries: Iterable[Entry], except_id: str) -> Dict[str, str]:
    """Questions of every other live entry, in its latest and its published version (both can
    end up in an export or be served)."""
    owners: Dict[str, str] = {}
    for e in entries:
        if e.id == except_id or e.retired_at:
            continue
        for v in {e.latest, e.published or e.latest}:
            for q in v.questions:
                owners.setdefault(checks.question_key(q), e.id)
    return owners


def _problems(fields: Mapping[str, object], others: Iterable[Entry]) -> Tuple[Optional[checks.Content], List[Problem]]:
    content, problems = checks.check_content(fields, load_topics(), load_article())
    if content is not None:
        problems = checks.check_unique_questions(content.id, content.questions,
                                                 _question_owners(others, content.id))
    return content, problems


def _checked(fields: Mapping[str, object], others: Iterable[Entry]) -> checks.Content:
    content, problems = _problems(fields, others)
    if problems:
        raise ContentRefused(problems)
    return content


def check(url: str, fields: Mapping[str, object], new: bool = False) -> List[Problem]:
    """The problems saving `fields` (with their "id") would meet, without saving: the editor's
    live check."""
    with transaction(url) as s:
        entries = _load(s)
    problems = []
    if new and any(e.id == fields.get("id") for e in entries):
        problems.append(Problem("id", f"field 'id': an entry '{fields.get('id')}' already exists"))
    return problems + _problems(fields, entries)[1]


def _clean_note(note: Optional[str]) -> Optional[str]:
    note = " ".join((note or "").split())
    return note[:MAX_NOTE] or None


def save(url: str, entry_id: str, author: str, fields: Mapping[str, object], *, base: Optional[int],
         submit: bool = True, note: Optional[str] = None) -> Version:
    """A new version of an existing entry. `base`: the version number the editor started from;
    if someone saved since, Conflict (their edit is not overwritten, the caller keeps the text).
    `fields`: title, questions (list), answer, source (list), authored_by."""
    ensure_seeded(url)
    try:
        with transaction(url) as s:
            entries = _load(s)
            entry = next((e for e in entries if e.id == entry_id), None)
            if entry is None:
                raise KnowledgeStoreError(f"there is no entry '{entry_id}'")
            if entry.retired_at:
                raise KnowledgeStoreError(f"'{entry_id}' is retired; restore it before editing")
            if base is not None and base != entry.latest.number:
                raise Conflict(f"{entry.latest.author} saved version {entry.latest.number} of '{entry_id}' "
                               f"after you opened it; compare it with your text below and save again")
            content = _checked({**fields, "id": entry_id}, entries)
            row = _add_version(s, entry_id, entry.latest.number + 1, content, author, _clean_note(note), submit)
            _audit(s, author, "knowledge_edit", entry_id,
                   f"version {row.number} ({AWAITING if submit else DRAFT})")
            _bump(s)
            s.flush()
            return _version(row, None)
    except IntegrityError:  # the same number saved by someone else a moment before
        raise Conflict(f"someone saved '{entry_id}' at the same moment; compare and save again") from None


def create(url: str, author: str, fields: Mapping[str, object], *, submit: bool = True,
           note: Optional[str] = None) -> Version:
    """A new entry and its version 1."""
    ensure_seeded(url)
    try:
        with transaction(url) as s:
            entries = _load(s)
            entry_id = str(fields.get("id") or "")
            existing = next((e for e in entries if e.id == entry_id), None)
            if existing is not None:
                state = " (retired: restore it instead)" if existing.retired_at else ""
                raise ContentRefused([Problem("id", f"field 'id': an entry '{entry_id}' already exists{state}")])
            content = _checked(fields, entries)
            s.add(KnowledgeEntryRecord(id=content.id, created_by=author))
            s.flush()
            row = _add_version(s, content.id, 1, content, author, _clean_note(note), submit)
            _audit(s, author, "knowledge_new", content.id, f"version 1 ({AWAITING if submit else DRAFT})")
            _bump(s)
            s.flush()
            return _version(row, None)
    except IntegrityError:
        raise ContentRefused([Problem("id", f"field 'id': an entry '{fields.get('id')}' was just created "
                                            f"by someone else")]) from None


def submit(url: str, version_id: int, actor: str) -> Version:
    """Send a draft for sign-off."""
    with transaction(url) as s:
        row = s.get(KnowledgeVersion, version_id)
        if row is None:
            raise KnowledgeStoreError("there is no such version")
        if row.submitted_at is None:
            row.submitted_at = utcnow()
            _audit(s, actor, "knowledge_submitted", row.entry_id, f"version {row.number}")
            _bump(s)
        s.flush()
        return _version(row, s.scalar(select(KnowledgeSignoff).where(KnowledgeSignoff.version_id == row.id)))


def sign(url: str, version_id: int, signer: str, role: str) -> Version:
    """Sign one version, which publishes it: patients are served it from the next message."""
    if role not in SIGNING_ROLES:
        raise KnowledgeStoreError(f"only a {' or '.join(SIGNING_ROLES)} can sign knowledge entries")
    try:
        with transaction(url) as s:
            entries = _load(s)
            row = s.get(KnowledgeVersion, version_id)
            if row is None:
                raise KnowledgeStoreError("there is no such version")
            entry = next(e for e in entries if e.id == row.entry_id)
            version = entry.version(row.number)
            if version.signer:
                raise KnowledgeStoreError(f"version {row.number} of '{row.entry_id}' is already signed by "
                                          f"{version.signer}")
            # Signing publishes every change since the published version, so whoever wrote any
            # of them (not only the last) may not sign: a colleague's small edit on top of your
            # version would otherwise let you publish your own text.
            since = entry.published.number if entry.published else 0
            own = [v.number for v in entry.versions if since < v.number <= row.number and v.author == signer]
            if own:
                raise KnowledgeStoreError(f"you wrote version {own[-1]} of '{row.entry_id}', which this "
                                          f"publishes: another clinician must sign it (nobody signs their own edit)")
            if entry.retired_at:
                raise KnowledgeStoreError(f"'{row.entry_id}' is retired; restore it before signing")
            if version.submitted_at is None:
                raise KnowledgeStoreError(f"version {row.number} of '{row.entry_id}' is a draft; it must be "
                                          f"sent for sign-off first")
            if entry.published and entry.published.number > row.number:
                raise KnowledgeStoreError(f"version {entry.published.number} of '{row.entry_id}' is already "
                                          f"published; version {row.number} is older")
            # The rules again: the article or another entry may have changed since it was saved.
            _checked({"id": entry.id, "title": version.title, "questions": list(version.questions),
                      "answer": version.answer, "source": list(version.source),
                      "authored_by": version.authored_by}, entries)
            s.add(KnowledgeSignoff(version_id=row.id, signer=signer, signer_role=role))
            clinic = " (contains clinic-authored text)" if version.clinic_authored else ""
            _audit(s, signer, "knowledge_signed", row.entry_id, f"version {row.number} by {row.author}{clinic}")
            _audit(s, signer, "knowledge_published", row.entry_id,
                   f"version {row.number} is served from the next message")
            _bump(s)
            s.flush()
            return _version(row, s.scalar(select(KnowledgeSignoff).where(KnowledgeSignoff.version_id == row.id)))
    except IntegrityError:
        raise KnowledgeStoreError("that version was signed by someone else a moment ago") from None


def retire(url: str, entry_id: str, actor: str, reason: Optional[str] = None) -> None:
    """Stop serving an entry (kept, with its versions; it can be restored)."""
    with transaction(url) as s:
        row = s.get(KnowledgeEntryRecord, entry_id)
        if row is None:
            raise KnowledgeStoreError(f"there is no entry '{entry_id}'")
        if row.retired_at is None:
            row.retired_at, row.retired_by = utcnow(), actor
            _audit(s, actor, "knowledge_retired", entry_id, _clean_note(reason))
            _bump(s)


def restore(url: str, entry_id: str, actor: str, role: str) -> None:
    """Serve a retired entry again: it goes back to patients, so a signing role decides."""
    if role not in SIGNING_ROLES:
        raise KnowledgeStoreError(f"only a {' or '.join(SIGNING_ROLES)} can restore a retired entry")
    with transaction(url) as s:
        entries = _load(s)
        row = s.get(KnowledgeEntryRecord, entry_id)
        if row is None:
            raise KnowledgeStoreError(f"there is no entry '{entry_id}'")
        if row.retired_at is None:
            return
        entry = next(e for e in entries if e.id == entry_id)
        clash = checks.check_unique_questions(entry_id, {q for v in entry.versions[-1:] for q in v.questions},
                                              _question_owners(entries, entry_id))
        if clash:
            raise ContentRefused(clash)
        row.retired_at, row.retired_by = None, None
        _audit(s, actor, "knowledge_restored", entry_id)
        _bump(s)


def add_questions(url: str, entry_id: str, author: str, questions: Sequence[str],
                  note: Optional[str] = None) -> Version:
    """Curation: patients' phrasings added to an entry as its next version, for sign-off."""
    entry = get_entry(url, entry_id)
    if entry is None:
        raise KnowledgeStoreError(f"there is no entry '{entry_id}'")
    latest = entry.latest
    known = {checks.question_key(q) for q in latest.questions}
    new = [checks.normalise_space(q) for q in questions if q.strip() and checks.question_key(q) not in known]
    if not new:
        raise KnowledgeStoreError(f"'{entry_id}' already has every one of these questions")
    fields = {"title": latest.title, "questions": [*latest.questions, *dict.fromkeys(new)],
              "answer": latest.answer, "source": list(latest.source), "authored_by": latest.authored_by}
    return save(url, entry_id, author, fields, base=latest.number, submit=True,
                note=note or f"{len(new)} question(s) patients asked, added from curation")


# ---------------------------------------------------------------------------------------------
# Proposals (knowledge/proposals/*.yml, read by bot/knowledge/proposals.py)

def apply_proposals(url: str, path: Path) -> List[Tuple[str, Optional[int]]]:
    """Each proposal of the file saved as its entry's next version, awaiting sign-off:
    [(entry id, the new version's number, or None when that proposal is already there)].
    Fields the proposal leaves out stay as the entry's latest version has them. The first
    refusal raises ProposalError; the proposals before it in the file stay saved."""
    author, items = proposals.load(path)
    out = []
    for item in items:
        entry = get_entry(url, item["id"])
        if entry is None:
            raise ProposalError(path, f"there is no entry '{item['id']}'")
        latest = entry.latest
        fields = {"title": latest.title, "questions": list(latest.questions), "answer": latest.answer,
                  "source": list(latest.source), "authored_by": latest.authored_by}
        fields.update({k: item[k] for k in proposals.FIELDS if k in item})
        fields["answer"] = " ".join(str(fields["answer"]).split())
        if any(v.author == author and v.answer == fields["answer"] and v.title == fields["title"]
               and v.authored_by == fields["authored_by"] for v in entry.versions):
            out.append((entry.id, None))
            continue
        try:
            version = save(url, entry.id, author, fields, base=latest.number, submit=True, note=item.get("note"))
        except KnowledgeStoreError as exc:  # refused content, a retired entry, or a save in between
            raise ProposalError(path, f"entry '{entry.id}': {exc}") from exc
        out.append((entry.id, version.number))
    return out


def _propose_at_seeding(url: str, directory: Path) -> None:
    # A refused file is logged and audited, not raised: the entries are seeded already, and a
    # wording proposal is no reason for the assistant or the console not to start. Staff fix
    # the file and apply it with the propose command.
    for path in proposals.files(directory):
        try:
            results = apply_proposals(url, path)
        except ProposalError as exc:
            logger.warning("knowledge proposals %s not applied at seeding: %s. The seeded entries are kept "
                           "(and any proposal before the refused one in that file); fix the file and run "
                           "`python -m bot.knowledge propose %s`", path.name, exc.reason, path)
            with transaction(url) as s:
                s.add(AuditEntry(actor="system", action=PROPOSAL_REFUSED, target="knowledge",
                                 detail=f"{path.name}: {exc.reason}"))
            continue
        added = [f"{entry_id} version {number}" for entry_id, number in results if number]
        logger.info("knowledge proposals %s applied at seeding: %s", path.name,
                    ", ".join(added) + " awaiting sign-off" if added else "already there")


# ---------------------------------------------------------------------------------------------
# Comparing

FIELDS = ("title", "questions", "answer", "source", "authored_by")


def field_lines(v: Version, name: str) -> List[str]:
    value = getattr(v, name)
    if isinstance(value, tuple):
        return list(value)
    return str(value).split("\n") if name != "answer" else _sentences(value)


def _sentences(text: str) -> List[str]:
    # One sentence a line: a changed word then shows as one changed sentence, not a changed paragraph.
    import re

    return [s for s in re.split(r"(?<=[.!?])\s+|\n", text) if s]


def diff(old: Version, new: Version) -> List[Tuple[str, List[Tuple[str, str]]]]:
    """Per changed field, its lines marked ' ' (same), '-' (only in old), '+' (only in new)."""
    out = []
    for name in FIELDS:
        a, b = field_lines(old, name), field_lines(new, name)
        if a == b:
            continue
        lines = [(line[0], line[2:]) for line in difflib.ndiff(a, b) if line[:1] in " -+"]
        out.append((name, lines))
    return out
