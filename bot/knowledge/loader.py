"""Load and validate the vetted knowledge base.

The loader is strict on purpose: a staff member who mistypes a field must get a message that
names the file and the field, and the build must stop rather than train on a broken entry.
All problems are collected and reported together so one run shows everything to fix.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from bot.config import paths
from bot.knowledge import checks
from bot.knowledge.checks import normalise_space, question_key as _question_key
from bot.knowledge.entry import KnowledgeEntry, entry_id_for_intent

REQUIRED_FIELDS = ("id", "title", "questions", "source", "reviewed_by", "reviewed_on")
OPTIONAL_FIELDS = ("authored_by",)
PENDING = "pending"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.S)


class KnowledgeError(ValueError):
    """The knowledge base is malformed; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(
            "The knowledge base has %d problem(s):\n  - %s"
            % (len(self.problems), "\n  - ".join(self.problems))
        )


@dataclass
class KnowledgeBase:
    entries: Dict[str, KnowledgeEntry]
    topics: Dict[str, str]
    _by_intent: Dict[str, KnowledgeEntry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_intent = {e.intent: e for e in self.entries.values()}

    def get(self, entry_id: str) -> Optional[KnowledgeEntry]:
        return self.entries.get(entry_id)

    def for_intent(self, intent: Optional[str]) -> Optional[KnowledgeEntry]:
        if entry_id_for_intent(intent or "") is None:
            return None
        return self._by_intent.get(intent)

    def __iter__(self):
        return iter(sorted(self.entries.values(), key=lambda e: e.id))

    def __len__(self) -> int:
        return len(self.entries)


def load_topics(path: Path = paths.TOPICS_FILE) -> Dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError([f"{path}: cannot read the topic list: {exc}"]) from exc
    topics = (data or {}).get("topics") if isinstance(data, dict) else None
    if not isinstance(topics, dict) or not topics:
        raise KnowledgeError([f"{path}: field 'topics': expected a mapping of topic id to description"])
    return {str(k): str(v) for k, v in topics.items()}


def load_article(article_file: Path = paths.ARTICLE_FILE) -> str:
    """The source article with its white space normalised (what `source` passages must be in)."""
    try:
        return normalise_space(article_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeError([f"{article_file}: cannot read the source article: {exc}"]) from exc


def load_knowledge_base(
    entries_dir: Path = paths.ENTRIES_DIR,
    topics_file: Path = paths.TOPICS_FILE,
    article_file: Path = paths.ARTICLE_FILE,
    today: Optional[dt.date] = None,
    every_topic: bool = True,
) -> KnowledgeBase:
    """`every_topic`: refuse a knowledge base that leaves a topic of topics.yml without an
    entry. An export of the published set (bot/knowledge/export.py) may leave some out:
    those not signed yet."""
    topics = load_topics(topics_file)
    article = load_article(article_file)
    # Sign-off dates are UTC (bot/knowledge/store.py): west of Greenwich, today's may be tomorrow here.
    today = today or max(dt.date.today(), dt.datetime.now(dt.timezone.utc).date())

    problems: List[str] = []
    entries: Dict[str, KnowledgeEntry] = {}
    files = sorted(entries_dir.glob("*.md")) if entries_dir.is_dir() else []
    if not files:
        problems.append(f"{entries_dir}: no knowledge entries (*.md) found")
    stray = sorted(p for p in entries_dir.glob("*") if p.is_file() and p.suffix != ".md") if entries_dir.is_dir() else []
    for p in stray:
        problems.append(f"{_display(p)}: not a knowledge entry (entries are .md files); move or rename it")

    question_owner: Dict[str, str] = {}
    for path in files:
        entry, entry_problems = _parse_entry(path, topics, article, today)
        problems.extend(entry_problems)
        if entry is None:
            continue
        if entry.id in entries:
            problems.append(
                f"{_display(path)}: field 'id': duplicate id '{entry.id}' (also in {entries[entry.id].path})"
            )
            continue
        for q in entry.questions:
            key = _question_key(q)
            if key in question_owner and question_owner[key] != entry.id:
                problems.append(
                    f"{_display(path)}: field 'questions': '{q}' is also a question of entry "
                    f"'{question_owner[key]}'; a question must belong to one entry"
                )
            question_owner.setdefault(key, entry.id)
        entries[entry.id] = entry

    covered = {e.topic for e in entries.values()}
    for topic in topics if every_topic else ():
        if topic not in covered:
            problems.append(
                f"{_display(entries_dir)}: topic '{topic}' from {_display(topics_file)} has no entry "
                f"(add {topic}.md or a sub-entry {topic}.<sub>.md)"
            )
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(entries=entries, topics=topics)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def _parse_entry(path: Path, topics: Dict[str, str], article: str, today: dt.date):
    where = _display(path)
    problems: List[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{where}: cannot read the file as UTF-8 text: {exc}"]
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if not match:
        return None, [f"{where}: missing the front-matter block (the file must start with '---', "
                      f"then the fields, then a line '---', then the answer)"]
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (front matter line {mark.line + 1})" if mark else ""
        return None, [f"{where}: the front matter is not valid YAML{line}: {getattr(exc, 'problem', exc)}"]
    if not isinstance(meta, dict):
        return None, [f"{where}: the front matter must be a set of 'field: value' lines"]

    allowed = REQUIRED_FIELDS + OPTIONAL_FIELDS
    for key in meta:
        if key not in allowed:
            hint = " (the answer goes below the closing '---', not in a field)" if key == "answer" else ""
            problems.append(f"{where}: unknown field '{key}'{hint}; allowed: {', '.join(allowed)}")
    # Clinic-authored text may quote nothing from the article (checks.check_source).
    required = [k for k in REQUIRED_FIELDS if not (k == "source" and meta.get("authored_by") == checks.CLINIC)]
    for key in required:
        if key not in meta or meta[key] is None or meta[key] == "" or meta[key] == []:
            problems.append(f"{where}: field '{key}' is missing or empty")
    if problems:
        return None, problems

    content, found = checks.check_content({**meta, "answer": match.group(2)}, topics, article)
    problems += [f"{where}: {p.message}" for p in found]
    entry_id = meta["id"]
    if isinstance(entry_id, str) and checks.ID_PATTERN.fullmatch(entry_id) and path.stem != entry_id:
        problems.append(f"{where}: field 'id': '{entry_id}' does not match the file name "
                        f"(expected {entry_id}.md)")
    reviewed_by, reviewed_on, found = check_review(meta["reviewed_by"], meta["reviewed_on"], today)
    problems += [f"{where}: {p.message}" for p in found]

    if problems:
        return None, problems
    return KnowledgeEntry(
        id=content.id,
        title=content.title,
        questions=content.questions,
        answer=content.answer,
        source=content.source,
        reviewed_by=reviewed_by,
        reviewed_on=reviewed_on,
        path=where,
        authored_by=content.authored_by,
    ), []


def check_review(reviewed_by, reviewed_on, today: dt.date):
    """A file's sign-off: both 'pending', or a reviewer and a date that is not in the future.
    Returns (reviewed_by, reviewed_on as text, problems)."""
    problems = []
    reviewed_by = str(reviewed_by).strip()
    if isinstance(reviewed_on, dt.datetime):
        reviewed_on = reviewed_on.date()
    if isinstance(reviewed_on, dt.date):
        if reviewed_on > today:
            problems.append(checks.Problem("reviewed_on", f"field 'reviewed_on': {reviewed_on} is in the future"))
        if reviewed_by == PENDING:
            problems.append(checks.Problem("reviewed_by", "field 'reviewed_by': a review date is set but the "
                                                          "reviewer is 'pending'"))
        reviewed_on = reviewed_on.isoformat()
    elif str(reviewed_on).strip() == PENDING:
        reviewed_on = PENDING
        if reviewed_by != PENDING:
            problems.append(checks.Problem("reviewed_on", f"field 'reviewed_on': the reviewer '{reviewed_by}' "
                                                          f"signed but the date is 'pending' (use YYYY-MM-DD)"))
    else:
        problems.append(checks.Problem("reviewed_on", f"field 'reviewed_on': '{reviewed_on}' must be 'pending' "
                                                      f"or a date YYYY-MM-DD"))
    return reviewed_by, str(reviewed_on), problems
