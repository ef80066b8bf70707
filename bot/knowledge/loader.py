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

from bot import paths
from bot.knowledge.entry import KnowledgeEntry, entry_id_for_intent

REQUIRED_FIELDS = ("id", "title", "questions", "source", "reviewed_by", "reviewed_on")
MIN_QUESTIONS = 8
MIN_ANSWER_WORDS = 40
MAX_ANSWER_WORDS = 120
MAX_TITLE_CHARS = 60  # titles are button labels and payloads (Telegram allows 64 bytes)
PENDING = "pending"
_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
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


def normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def load_topics(path: Path = paths.TOPICS_FILE) -> Dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError([f"{path}: cannot read the topic list: {exc}"]) from exc
    topics = (data or {}).get("topics") if isinstance(data, dict) else None
    if not isinstance(topics, dict) or not topics:
        raise KnowledgeError([f"{path}: field 'topics': expected a mapping of topic id to description"])
    return {str(k): str(v) for k, v in topics.items()}


def load_knowledge_base(
    entries_dir: Path = paths.ENTRIES_DIR,
    topics_file: Path = paths.TOPICS_FILE,
    article_file: Path = paths.ARTICLE_FILE,
    today: Optional[dt.date] = None,
) -> KnowledgeBase:
    topics = load_topics(topics_file)
    try:
        article = normalise_space(article_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeError([f"{article_file}: cannot read the source article: {exc}"]) from exc
    today = today or dt.date.today()

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
    for topic in topics:
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


def _question_key(q: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", q.lower()).strip()


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

    for key in meta:
        if key not in REQUIRED_FIELDS:
            hint = " (the answer goes below the closing '---', not in a field)" if key == "answer" else ""
            problems.append(f"{where}: unknown field '{key}'{hint}; allowed: {', '.join(REQUIRED_FIELDS)}")
    for key in REQUIRED_FIELDS:
        if key not in meta or meta[key] is None or meta[key] == "" or meta[key] == []:
            problems.append(f"{where}: field '{key}' is missing or empty")
    if problems:
        return None, problems

    entry_id = meta["id"]
    if not isinstance(entry_id, str) or not _ID_PATTERN.match(entry_id):
        problems.append(f"{where}: field 'id': '{entry_id}' must be a topic id or '<topic>.<sub>' "
                        f"(lowercase letters, digits, underscores)")
    else:
        if entry_id.split(".", 1)[0] not in topics:
            problems.append(f"{where}: field 'id': unknown topic '{entry_id.split('.', 1)[0]}' "
                            f"(not in knowledge/topics.yml)")
        if path.stem != entry_id:
            problems.append(f"{where}: field 'id': '{entry_id}' does not match the file name "
                            f"(expected {entry_id}.md)")

    title = meta["title"]
    if not isinstance(title, str) or not title.strip():
        problems.append(f"{where}: field 'title' must be text")
    elif len(title.strip()) > MAX_TITLE_CHARS or len(title.strip().encode()) > 64:
        problems.append(f"{where}: field 'title' has {len(title.strip())} characters; at most "
                        f"{MAX_TITLE_CHARS} (it is also a button label)")

    questions = meta["questions"]
    clean_questions: List[str] = []
    if not isinstance(questions, list):
        problems.append(f"{where}: field 'questions' must be a list of questions")
    else:
        seen = set()
        for i, q in enumerate(questions, 1):
            if not isinstance(q, str) or not q.strip():
                problems.append(f"{where}: field 'questions': item {i} is empty or not text")
                continue
            key = _question_key(q)
            if key in seen:
                problems.append(f"{where}: field 'questions': item {i} repeats '{q.strip()}'")
                continue
            seen.add(key)
            clean_questions.append(normalise_space(q))
        if len(clean_questions) < MIN_QUESTIONS:
            problems.append(f"{where}: field 'questions': {len(clean_questions)} distinct question(s), "
                            f"at least {MIN_QUESTIONS} are needed")

    source = meta["source"]
    passages = [source] if isinstance(source, str) else source
    clean_source: List[str] = []
    if not isinstance(passages, list) or not all(isinstance(p, str) and p.strip() for p in passages):
        problems.append(f"{where}: field 'source' must be a quoted passage or a list of them")
    else:
        for i, passage in enumerate(passages, 1):
            norm = normalise_space(passage)
            if norm not in article:
                problems.append(f"{where}: field 'source': passage {i} is not quoted word for word from "
                                f"knowledge/sources/clinic-article.txt: \"{_shorten(norm)}\"")
            clean_source.append(norm)

    reviewed_by, reviewed_on = str(meta["reviewed_by"]).strip(), meta["reviewed_on"]
    if isinstance(reviewed_on, dt.datetime):
        reviewed_on = reviewed_on.date()
    if isinstance(reviewed_on, dt.date):
        if reviewed_on > today:
            problems.append(f"{where}: field 'reviewed_on': {reviewed_on} is in the future")
        if reviewed_by == PENDING:
            problems.append(f"{where}: field 'reviewed_by': a review date is set but the reviewer is 'pending'")
        reviewed_on = reviewed_on.isoformat()
    elif str(reviewed_on).strip() == PENDING:
        reviewed_on = PENDING
        if reviewed_by != PENDING:
            problems.append(f"{where}: field 'reviewed_on': the reviewer '{reviewed_by}' signed "
                            f"but the date is 'pending' (use YYYY-MM-DD)")
    else:
        problems.append(f"{where}: field 'reviewed_on': '{reviewed_on}' must be 'pending' or a date YYYY-MM-DD")

    answer = match.group(2).strip()
    words = len(answer.split())
    if not answer:
        problems.append(f"{where}: field 'answer' (the text below the front matter) is empty")
    elif not MIN_ANSWER_WORDS <= words <= MAX_ANSWER_WORDS:
        problems.append(f"{where}: field 'answer' has {words} words; it must have "
                        f"{MIN_ANSWER_WORDS}-{MAX_ANSWER_WORDS}")

    if problems:
        return None, problems
    return KnowledgeEntry(
        id=entry_id,
        title=title.strip(),
        questions=tuple(clean_questions),
        answer=answer,
        source=tuple(clean_source),
        reviewed_by=reviewed_by,
        reviewed_on=str(reviewed_on),
        path=where,
    ), []


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

