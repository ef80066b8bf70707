"""The rules one knowledge entry's content must follow, checked in memory.

The file loader (bot/knowledge/loader.py) and the console's knowledge editor
(bot/knowledge/store.py) apply the same rules through this module, so an entry the console
accepts is one the strict loader accepts after export, and the other way round. Each problem
names its field, so the console can show it next to that field and the loader can prefix it
with the file name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

MIN_QUESTIONS = 8
MIN_ANSWER_WORDS = 40
MAX_ANSWER_WORDS = 120
MAX_TITLE_CHARS = 60  # titles are button labels and payloads (Telegram allows 64 bytes)
# The audit log's target column holds "knowledge:<id>" in 64 characters.
MAX_ID_CHARS = 50
ARTICLE = "article"
CLINIC = "clinic"
# Who wrote the answer's statements: "article" - every one is traceable to the quoted source;
# "clinic" - the clinic added statements of its own (e.g. when to call emergency services),
# which the signer vouches for instead of the article.
AUTHORED_BY = (ARTICLE, CLINIC)
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
ARTICLE_NAME = "knowledge/sources/clinic-article.txt"


@dataclass(frozen=True)
class Problem:
    """`field` is the entry's field (id, title, questions, source, answer, authored_by, ...);
    `message` reads on its own, starting with the field ("field 'answer' has 12 words; ...")."""

    field: str
    message: str


@dataclass(frozen=True)
class Content:
    """An entry's cleaned content, once every rule passes."""

    id: str
    title: str
    questions: Tuple[str, ...]
    answer: str
    source: Tuple[str, ...]
    authored_by: str = ARTICLE


def normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def question_key(q: str) -> str:
    """Two questions are the same if they differ only in case, spacing and punctuation."""
    return re.sub(r"[^a-z0-9]+", " ", q.lower()).strip()


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clean_answer(text: str) -> str:
    """The answer exactly as the patient will see it: line breaks kept (the chat shows them),
    Windows line ends and surrounding blank space dropped."""
    return "\n".join(line.rstrip() for line in (text or "").replace("\r\n", "\n").replace("\r", "\n")
                     .split("\n")).strip()


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def check_id(entry_id, topics: Mapping[str, str]) -> List[Problem]:
    if _empty(entry_id):
        return [Problem("id", "field 'id' is missing or empty")]
    if not isinstance(entry_id, str) or not ID_PATTERN.fullmatch(entry_id):
        return [Problem("id", f"field 'id': '{entry_id}' must be a topic id or '<topic>.<sub>' "
                              f"(lowercase letters, digits, underscores)")]
    problems = []
    if len(entry_id) > MAX_ID_CHARS:
        problems.append(Problem("id", f"field 'id': '{entry_id}' has {len(entry_id)} characters; "
                                      f"at most {MAX_ID_CHARS}"))
    if entry_id.split(".", 1)[0] not in topics:
        problems.append(Problem("id", f"field 'id': unknown topic '{entry_id.split('.', 1)[0]}' "
                                      f"(not in knowledge/topics.yml)"))
    return problems


def check_title(title) -> List[Problem]:
    if _empty(title):
        return [Problem("title", "field 'title' is missing or empty")]
    if not isinstance(title, str):
        return [Problem("title", "field 'title' must be text")]
    if len(title.strip()) > MAX_TITLE_CHARS or len(title.strip().encode()) > 64:
        return [Problem("title", f"field 'title' has {len(title.strip())} characters; at most "
                                 f"{MAX_TITLE_CHARS} (it is also a button label)")]
    return []


def check_questions(questions) -> Tuple[List[str], List[Problem]]:
    if _empty(questions):
        return [], [Problem("questions", "field 'questions' is missing or empty")]
    if not isinstance(questions, (list, tuple)):
        return [], [Problem("questions", "field 'questions' must be a list of questions")]
    problems, clean, seen = [], [], set()
    for i, q in enumerate(questions, 1):
        if not isinstance(q, str) or not q.strip():
            problems.append(Problem("questions", f"field 'questions': item {i} is empty or not text"))
            continue
        key = question_key(q)
        if key in seen:
            problems.append(Problem("questions", f"field 'questions': item {i} repeats '{q.strip()}'"))
            continue
        seen.add(key)
        clean.append(normalise_space(q))
    if len(clean) < MIN_QUESTIONS:
        problems.append(Problem("questions", f"field 'questions': {len(clean)} distinct question(s), "
                                             f"at least {MIN_QUESTIONS} are needed"))
    return clean, problems


def check_source(source, article: str, authored_by: str = ARTICLE) -> Tuple[List[str], List[Problem]]:
    """Passages quoted word for word from the article. Clinic-authored text may have none (an
    entry the article says nothing about), but whatever is quoted must be exact."""
    if _empty(source):
        if authored_by == CLINIC:
            return [], []
        return [], [Problem("source", "field 'source' is missing or empty")]
    passages = [source] if isinstance(source, str) else source
    if not isinstance(passages, (list, tuple)) or not all(isinstance(p, str) and p.strip() for p in passages):
        return [], [Problem("source", "field 'source' must be a quoted passage or a list of them")]
    problems, clean = [], []
    for i, passage in enumerate(passages, 1):
        norm = normalise_space(passage)
        if norm not in article:
            problems.append(Problem("source", f"field 'source': passage {i} is not quoted word for word from "
                                              f"{ARTICLE_NAME}: \"{shorten(norm)}\""))
        clean.append(norm)
    return clean, problems


def check_answer(answer) -> Tuple[str, List[Problem]]:
    text = clean_answer(answer if isinstance(answer, str) else "")
    words = len(text.split())
    if not text:
        return text, [Problem("answer", "field 'answer' (the text below the front matter) is empty")]
    if not MIN_ANSWER_WORDS <= words <= MAX_ANSWER_WORDS:
        return text, [Problem("answer", f"field 'answer' has {words} words; it must have "
                                        f"{MIN_ANSWER_WORDS}-{MAX_ANSWER_WORDS}")]
    return text, []


def check_authored_by(value) -> Tuple[str, List[Problem]]:
    if _empty(value):
        return ARTICLE, []
    if value not in AUTHORED_BY:
        return ARTICLE, [Problem("authored_by", f"field 'authored_by': '{value}' must be one of "
                                                f"{', '.join(AUTHORED_BY)}")]
    return value, []


def check_content(fields: Mapping[str, object], topics: Mapping[str, str], article: str
                  ) -> Tuple[Optional[Content], List[Problem]]:
    """Every rule on one entry's own fields (id, title, questions, source, answer, authored_by).
    `article` is the source article with its white space normalised."""
    authored_by, problems = check_authored_by(fields.get("authored_by"))
    problems += check_id(fields.get("id"), topics)
    problems += check_title(fields.get("title"))
    questions, found = check_questions(fields.get("questions"))
    problems += found
    source, found = check_source(fields.get("source"), article, authored_by)
    problems += found
    answer, found = check_answer(fields.get("answer"))
    problems += found
    if problems:
        return None, problems
    return Content(id=str(fields["id"]), title=str(fields["title"]).strip(), questions=tuple(questions),
                   answer=answer, source=tuple(source), authored_by=authored_by), []


def check_unique_questions(entry_id: str, questions: Iterable[str],
                           owners: Mapping[str, str]) -> List[Problem]:
    """A question belongs to one entry: `owners` maps question_key() to the entry owning it."""
    problems = []
    for q in questions:
        owner = owners.get(question_key(q))
        if owner is not None and owner != entry_id:
            problems.append(Problem("questions", f"field 'questions': '{q}' is also a question of entry "
                                                 f"'{owner}'; a question must belong to one entry"))
    return problems


def by_field(problems: Sequence[Problem]) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for p in problems:
        out.setdefault(p.field, []).append(p.message)
    return out
