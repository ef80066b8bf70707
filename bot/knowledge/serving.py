"""Decide what to do with a knowledge question: answer, suggest, or say honestly we can't.

Rasa's ResponseSelector and FallbackClassifier have no notion of "sure enough to serve a
medical answer", so the decision is made here from the classifier's ranking, with
thresholds that live in knowledge/serving.yml and are tuned on data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from bot import paths
from bot.knowledge.entry import KnowledgeEntry, entry_id_for_intent
from bot.knowledge.loader import KnowledgeBase

FOLLOW_UP_INTENT = "follow_up"
# Rasa's FallbackClassifier puts this on top of the ranking when nothing is confident; the
# classifier's own ranking stays below it.
FALLBACK_INTENT = "nlu_fallback"
SERVING_FILE = paths.KNOWLEDGE_DIR / "serving.yml"


@dataclass(frozen=True)
class ServingConfig:
    answer_threshold: float = 0.55
    suggest_threshold: float = 0.2
    max_suggestions: int = 3
    follow_up_window: int = 3

    @classmethod
    def load(cls, path: Path = SERVING_FILE) -> "ServingConfig":
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {sorted(unknown)}")
        cfg = cls(**data)
        if not 0 <= cfg.suggest_threshold <= cfg.answer_threshold <= 1:
            raise ValueError(f"{path}: need 0 <= suggest_threshold <= answer_threshold <= 1")
        return cfg


@dataclass(frozen=True)
class Decision:
    """`kind` is one of: answer, suggest, no_answer."""

    kind: str
    entry: Optional[KnowledgeEntry] = None
    how: str = ""
    confidence: Optional[float] = None
    suggestions: Sequence[KnowledgeEntry] = field(default_factory=tuple)
    best_guess: Optional[str] = None


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


class AnswerSelector:
    def __init__(self, kb: KnowledgeBase, config: ServingConfig):
        self.kb = kb
        self.config = config
        # Exact questions (and titles) from the entries: a click on a suggestion button sends
        # the entry's first question back as text, and must land on that entry for sure.
        self._exact: Dict[str, KnowledgeEntry] = {}
        for entry in kb:
            for text in (entry.title, *entry.questions):
                self._exact.setdefault(_key(text), entry)

    def decide(
        self,
        text: str,
        intent_ranking: List[Dict[str, Any]],
        last_entry_id: Optional[str] = None,
    ) -> Decision:
        exact = self._exact.get(_key(text or ""))
        if exact is not None:
            return Decision("answer", exact, how="exact_question", confidence=1.0)

        low_confidence = any(r.get("name") == FALLBACK_INTENT for r in intent_ranking or [])
        ranking = sorted(
            (r for r in intent_ranking or [] if r.get("name") and r.get("name") != FALLBACK_INTENT),
            key=lambda r: r.get("confidence") or 0.0,
            reverse=True,
        )
        top = ranking[0] if ranking else {"name": None, "confidence": 0.0}
        top_name, top_conf = top.get("name"), float(top.get("confidence") or 0.0)
        kb_ranked = [(self.kb.for_intent(r["name"]), float(r.get("confidence") or 0.0))
                     for r in ranking]
        kb_ranked = [(e, c) for e, c in kb_ranked if e is not None]

        last = self.kb.get(last_entry_id) if last_entry_id else None
        if top_name == FOLLOW_UP_INTENT:
            if last is not None and top_conf >= self.config.suggest_threshold:
                return Decision("answer", last, how="follow_up", confidence=top_conf)
            return Decision("no_answer", how="follow_up_without_topic", confidence=top_conf,
                            best_guess=top_name)

        if (kb_ranked and kb_ranked[0][0].intent == top_name and not low_confidence
                and top_conf >= self.config.answer_threshold):
            return Decision("answer", kb_ranked[0][0], how="classifier", confidence=top_conf)

        suggestions = [e for e, c in kb_ranked if c >= self.config.suggest_threshold]
        suggestions = suggestions[: self.config.max_suggestions]
        reason = ("low_confidence" if low_confidence or entry_id_for_intent(top_name or "")
                  else "out_of_scope")
        if suggestions and reason == "low_confidence":
            return Decision("suggest", how=reason, confidence=top_conf,
                            suggestions=tuple(suggestions), best_guess=top_name)
        return Decision("no_answer", how=reason, confidence=top_conf, best_guess=top_name,
                        suggestions=tuple(suggestions))
