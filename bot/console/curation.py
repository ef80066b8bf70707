"""Curation: the questions the assistant could not answer, grouped by similarity with counts,
and escalations and unanswered questions per day - so staff can grow the knowledge base where
patients need it."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Dict, List

from sqlalchemy import select

from bot.storage.db import transaction
from bot.storage.models import Escalation, UnansweredQuestion, utcnow

# Cosine similarity of the shared sentence encoder's vectors (bot/encoder/) to join a group:
# "are you open on sundays" and "opening hours on weekends" share no word but mean the same.
# Below about 0.6 different questions about the treatment start to chain together.
SIMILAR = 0.65


def grouped_questions(url: str, limit: int = 2000) -> List[Dict[str, Any]]:
    with transaction(url) as s:
        rows = list(s.scalars(select(UnansweredQuestion).order_by(UnansweredQuestion.id.desc()).limit(limit)))
    texts = [r.text for r in rows if (r.text or "").strip()]
    if not texts:
        return []
    from bot.encoder.model import shared_encoder

    vectors = shared_encoder().encode(texts)
    sims = vectors @ vectors.T
    # Single linkage: questions joined by any chain of similar pairs form one group.
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*(sims >= SIMILAR).nonzero()):
        if i < j:
            parent[root(int(i))] = root(int(j))
    members_of: Dict[int, List[int]] = {}
    for i in range(len(texts)):
        members_of.setdefault(root(i), []).append(i)
    groups = list(members_of.values())
    rows_with_text = [r for r in rows if (r.text or "").strip()]
    out = []
    for group in groups:
        members = [rows_with_text[i] for i in group]
        guesses = Counter(m.best_guess for m in members if m.best_guess)
        out.append({"count": len(members), "examples": [m.text for m in members[:3]],
                    # Ids, not texts, travel in the "add to an entry" form (bot/console/routes/curation.py).
                    "ids": [m.id for m in members],
                    "last_seen": max(m.created_at for m in members),
                    "best_guess": guesses.most_common(1)[0][0] if guesses else None})
    out.sort(key=lambda g: (-g["count"], -g["last_seen"].timestamp()))
    return out


def per_day(url: str, days: int = 14, today: dt.date | None = None) -> List[Dict[str, Any]]:
    today = today or utcnow().date()
    start = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time())
    with transaction(url) as s:
        esc = [d for (d,) in s.execute(select(Escalation.created_at).where(Escalation.created_at >= start))]
        unanswered = [d for (d,) in s.execute(select(UnansweredQuestion.created_at)
                                              .where(UnansweredQuestion.created_at >= start))]
    e, u = Counter(d.date() for d in esc), Counter(d.date() for d in unanswered)
    return [{"day": day, "escalations": e.get(day, 0), "unanswered": u.get(day, 0)}
            for day in (today - dt.timedelta(days=i) for i in range(days - 1, -1, -1))]


def questions_by_id(url: str, ids: List[int]) -> List[str]:
    """The texts of these unanswered questions, in the order given, each once."""
    with transaction(url) as s:
        rows = {r.id: r.text for r in s.scalars(select(UnansweredQuestion).where(UnansweredQuestion.id.in_(ids)))}
    return list(dict.fromkeys(" ".join(rows[i].split()) for i in ids if (rows.get(i) or "").strip()))
