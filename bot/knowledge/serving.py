"""Decide what to do with a knowledge question: answer, suggest, or say honestly we can't.

Rasa's ResponseSelector and FallbackClassifier have no notion of "sure enough to serve a
medical answer", so the decision is made here from the classifier's ranking, with
thresholds that live in knowledge/serving.yml and are tuned on data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from bot.config import paths
from bot.knowledge.entry import KnowledgeEntry, entry_id_for_intent
from bot.knowledge.loader import KnowledgeBase

FOLLOW_UP_INTENT = "follow_up"
# Rasa's FallbackClassifier puts this on top of the ranking when nothing is confident; the
# classifier's own ranking stays below it.
FALLBACK_INTENT = "nlu_fallback"
SERVING_FILE = paths.KNOWLEDGE_DIR / "serving.yml"


@dataclass(frozen=True)
class Unsettled:
    """A kind of question the article's general text does not settle: `how` is logged with the
    honest no-answer; `topics` are the entries it applies to (empty: every entry)."""

    how: str
    pattern: "re.Pattern"
    topics: Tuple[str, ...] = ()

    @classmethod
    def parse(cls, where: str, raw) -> "Unsettled":
        if not isinstance(raw, dict) or set(raw) - {"how", "topics", "pattern"} or \
                not isinstance(raw.get("how"), str) or not isinstance(raw.get("pattern"), str):
            raise ValueError(f"{where}: expected 'how' and 'pattern' (text) and optionally 'topics' (a list)")
        try:
            pattern = re.compile(raw["pattern"], re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"{where}: 'pattern' is not a valid regular expression: {exc}") from exc
        return cls(raw["how"], pattern, tuple(raw.get("topics") or ()))

    def applies(self, entry: KnowledgeEntry, text: str) -> bool:
        return (not self.topics or entry.topic in self.topics) and bool(self.pattern.search(text or ""))


@dataclass(frozen=True)
class ServingConfig:
    answer_threshold: float = 0.55
    suggest_threshold: float = 0.2
    max_suggestions: int = 3
    follow_up_window: int = 3
    # The nearest training question by meaning (bot/knowledge/component.py), per clause:
    semantic_answer: float = 0.78    # this close to one entry's questions: serve it
    semantic_margin: float = 0.03    # ... and at least this much closer than to another entry's
    semantic_agree: float = 0.6      # DIET and the encoder name the same entry: serve it from here
    semantic_floor: float = 0.45     # DIET's confident pick must be at least this close
    semantic_suggest: float = 0.55   # offered as "did you mean" from here
    semantic_nearby: float = 0.4     # with the honest no-answer, the entries this close are
                                     # offered as buttons (the patient may have meant one)
    semantic_second: float = 0.6     # a second question in the message ("... and can I drink
    semantic_second_margin: float = 0.1  # after?"): this close, this far ahead of its runner-up
    semantic_out_of_scope: float = 0.72  # this close to an out-of-scope question, and closer than
                                         # to any entry's: no entry is served, whatever DIET says
    linear_answer: float = 0.6   # where only suggestions would be offered: the linear head this
                                 # sure of an entry that DIET or the nearest question also names
    linear_veto: float = 0.8     # ... unless DIET is this sure the article does not answer it
    # Questions an entry's general text does not settle (knowledge/serving.yml `unsettled`).
    unsettled: Tuple["Unsettled", ...] = ()

    @classmethod
    def load(cls, path: Path = SERVING_FILE) -> "ServingConfig":
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {sorted(unknown)}")
        data["unsettled"] = tuple(Unsettled.parse(f"{path}: unsettled item {i}", item)
                                  for i, item in enumerate(data.get("unsettled") or [], 1))
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
    also: Optional[KnowledgeEntry] = None  # a second question in the same message
    # With a no-answer: the entries nearest in meaning, offered as buttons beside the offer to
    # ask staff, so a question the knowledge base does answer, worded in a way nobody foresaw,
    # is one tap from the reviewed text. Never served by themselves.
    nearby: Sequence[KnowledgeEntry] = field(default_factory=tuple)


@dataclass(frozen=True)
class Nearest:
    """What the encoder says of one clause: its nearest intent, the runner-up, and the best
    score per intent (kb_* and out_of_scope)."""
    start: int
    end: int
    intent: str
    score: float
    runner_up: Optional[str]
    runner_up_score: float
    scores: Dict[str, float]

    @classmethod
    def from_parse(cls, semantic: Optional[Dict[str, Any]]) -> List["Nearest"]:
        out = []
        for c in (semantic or {}).get("clauses") or []:
            try:
                out.append(cls(int(c["start"]), int(c["end"]), str(c["intent"]), float(c["score"]),
                               c.get("runner_up"), float(c.get("runner_up_score") or 0.0),
                               {str(k): float(v) for k, v in (c.get("scores") or {}).items()}))
            except (KeyError, TypeError, ValueError):
                continue
        return out


_QUESTION = re.compile(r"^\W*(and|also|but|plus|oh|ok|so)?\W*(what|how|when|why|where|which|who|can|could|should|"
                       r"is|are|do|does|will|would|may|any)\b|\?\s*$", re.IGNORECASE)


def asks(clause: str) -> bool:
    return bool(_QUESTION.search(clause or ""))


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
        semantic: Optional[Dict[str, Any]] = None,
    ) -> Decision:
        decision = self._decide(text, intent_ranking, last_entry_id, semantic)
        if decision.kind != "answer":
            # Nor is such an entry offered as a button for them.
            nearby = tuple(e for e in decision.nearby if not self._unsettled(e, text))
            if decision.kind == "suggest":
                offered = tuple(e for e in decision.suggestions if not self._unsettled(e, text))
                if not offered:
                    return Decision("no_answer", how="low_confidence", confidence=decision.confidence,
                                    best_guess=decision.best_guess, nearby=nearby)
                return replace(decision, suggestions=offered, nearby=nearby)
            return replace(decision, nearby=nearby)
        if decision.how == "exact_question":
            return decision
        how = self._unsettled(decision.entry, text)
        if how:
            return Decision("no_answer", how=how, confidence=decision.confidence,
                            best_guess=decision.entry.intent, suggestions=(decision.entry,))
        return decision

    def _unsettled(self, entry: KnowledgeEntry, text: str) -> Optional[str]:
        """Why the article's general text in this entry does not settle this question
        (knowledge/serving.yml), if it does not."""
        return next((u.how for u in self.config.unsettled if u.applies(entry, text)), None)

    def _decide(
        self,
        text: str,
        intent_ranking: List[Dict[str, Any]],
        last_entry_id: Optional[str] = None,
        semantic: Optional[Dict[str, Any]] = None,
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
        nearest = Nearest.from_parse(semantic)
        if top_name == FOLLOW_UP_INTENT:
            if last is not None and top_conf >= self.config.suggest_threshold:
                return Decision("answer", last, how="follow_up", confidence=top_conf)
            # Nothing to follow up: "how many days off work should I plan?" is a question of its
            # own, worded like a follow-up. Only when it names nothing the assistant can place
            # ("how long is that for?") does it ask what the patient means.
            fresh = None
            if nearest:
                fresh = self._with_meaning(kb_ranked, top_name, top_conf, True, nearest, text or "",
                                           (semantic or {}).get("linear"))
                if fresh.kind != "no_answer":
                    return fresh
            return Decision("no_answer", how="follow_up_without_topic", confidence=top_conf,
                            best_guess=top_name, nearby=fresh.nearby if fresh else ())

        if nearest:
            return self._with_meaning(kb_ranked, top_name, top_conf, low_confidence, nearest, text or "",
                                      (semantic or {}).get("linear"))

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

    def _linear_vote(self, linear: Optional[Dict[str, Any]], diet_first: Optional[KnowledgeEntry],
                     best: Optional[Nearest]) -> Optional[KnowledgeEntry]:
        """Two of three: the linear head sure of an entry that DIET's first entry or the nearest
        question also names."""
        if not linear or float(linear.get("prob") or 0.0) < self.config.linear_answer:
            return None
        entry = self.kb.for_intent(str(linear.get("intent")))
        if entry is None:
            return None
        if (diet_first is not None and diet_first.intent == entry.intent) or \
                (best is not None and best.intent == entry.intent):
            return entry
        return None

    def _with_meaning(self, kb_ranked, top_name, top_conf, low_confidence,
                      nearest: List[Nearest], text: str = "", linear: Optional[Dict[str, Any]] = None) -> Decision:
        """DIET's ranking and the encoder's nearest questions together.

        Served outright: an entry whose questions a clause is very close to (and clearly closer
        than to any other entry's or to an out-of-scope question); or the entry both DIET and
        the encoder put first; or DIET's confident pick when the encoder does not contradict it.
        Otherwise the entries either of them finds plausible are offered, best first; a clause
        nearest to an out-of-scope question, with nothing else close, gets the honest no-answer.
        """
        cfg = self.config
        kb_nearest = [n for n in nearest if self.kb.for_intent(n.intent) is not None]
        best = max(kb_nearest, key=lambda n: n.score, default=None)
        diet_top = kb_ranked[0][0] if kb_ranked and kb_ranked[0][0].intent == top_name else None

        def sem(intent: str) -> float:
            return max((n.scores.get(intent, 0.0) for n in nearest), default=0.0)

        def second_question(first: KnowledgeEntry) -> Optional[KnowledgeEntry]:
            """Another clause that asks its own question, clearly about another entry."""
            others = [n for n in kb_nearest if n.intent != first.intent and n.score >= cfg.semantic_second
                      and n.score - n.runner_up_score >= cfg.semantic_second_margin
                      and n.scores.get(first.intent, 0.0) < n.score - cfg.semantic_second_margin
                      and asks(text[n.start:n.end])]
            other = max(others, key=lambda n: n.score, default=None)
            return self.kb.for_intent(other.intent) if other else None

        oos = max((n.scores.get("out_of_scope", 0.0) for n in nearest), default=0.0)
        best_kb = best.score if best is not None else 0.0
        # Entries either signal finds plausible, for buttons: ranked by DIET's confidence, the
        # nearest question's score and the linear head's probability together.
        conf_of = {entry.intent: conf for entry, conf in kb_ranked}
        lin_intent = str((linear or {}).get("intent") or "")
        lin_prob = float((linear or {}).get("prob") or 0.0)

        def ranked(floor: float, clauses: List[Nearest]) -> List[KnowledgeEntry]:
            intents = set(conf_of) | {i for n in clauses for i in n.scores}
            plausible = [i for i in intents if self.kb.for_intent(i) is not None
                         and (conf_of.get(i, 0.0) >= cfg.suggest_threshold or sem(i) >= floor)]
            plausible.sort(key=lambda i: -(conf_of.get(i, 0.0) + sem(i) + (lin_prob if i == lin_intent else 0.0)))
            return [self.kb.for_intent(i) for i in plausible[: cfg.max_suggestions]]

        if oos >= cfg.semantic_out_of_scope and oos > best_kb + cfg.semantic_margin:
            # "Are the injections painful?" is closest to questions the article does not answer.
            # Only entries close in meaning are offered beside the no-answer.
            close = [e for e in ranked(cfg.semantic_suggest, nearest) if sem(e.intent) >= cfg.semantic_suggest]
            return Decision("no_answer", how="out_of_scope", confidence=oos, best_guess="out_of_scope",
                            nearby=tuple(close))
        if best is not None and best.score >= cfg.semantic_answer and \
                best.score - best.runner_up_score >= cfg.semantic_margin:
            entry = self.kb.for_intent(best.intent)
            return Decision("answer", entry, how="semantic", confidence=best.score,
                            also=second_question(entry))
        # DIET's own first entry, even under the fallback threshold.
        diet_first = kb_ranked[0][0] if kb_ranked else None
        if diet_first is not None and best is not None and best.intent == diet_first.intent and \
                best.score >= cfg.semantic_agree and (top_name in (diet_first.intent, FALLBACK_INTENT)
                                                      or low_confidence):
            return Decision("answer", diet_first, how="classifier+semantic", confidence=best.score,
                            also=second_question(diet_first))
        if diet_top is not None and not low_confidence:
            agree = best is not None and best.intent == diet_top.intent
            if agree and best.score >= cfg.semantic_agree and top_conf >= cfg.suggest_threshold:
                return Decision("answer", diet_top, how="classifier+semantic", confidence=top_conf,
                                also=second_question(diet_top))
            # A clause clearly nearest to a question the article does not answer ("... and
            # other exosome brands") is a part DIET's pick does not cover.
            oos_clause = len(nearest) > 1 and any(
                n.intent == "out_of_scope" and n.score >= cfg.semantic_out_of_scope
                and n.score - n.runner_up_score >= cfg.semantic_second_margin for n in nearest)
            if top_conf >= cfg.answer_threshold and sem(diet_top.intent) >= cfg.semantic_floor and not oos_clause:
                return Decision("answer", diet_top, how="classifier", confidence=top_conf,
                                also=second_question(diet_top))

        # Only clauses nearest to an entry open "did you mean" (and with it the linear head's
        # vote, which serves); buttons beside a no-answer may come from any clause.
        suggestions = ranked(cfg.semantic_suggest, kb_nearest)
        if suggestions and not (oos > best_kb and top_name == "out_of_scope"):
            # Not against DIET's confident "the article does not answer this".
            sure_out = top_name == "out_of_scope" and top_conf >= cfg.linear_veto
            voted = None if sure_out else self._linear_vote(linear, diet_first, best)
            if voted is not None:
                return Decision("answer", voted, how="linear+vote", confidence=linear["prob"],
                                also=second_question(voted))
            return Decision("suggest", how="low_confidence", confidence=top_conf,
                            suggestions=tuple(suggestions), best_guess=top_name)
        reason = "out_of_scope" if top_name == "out_of_scope" or oos >= best_kb else "low_confidence"
        # Not clearly out of scope (that returned above): the nearest entries go with the
        # honest no-answer, in case the patient meant one of them.
        return Decision("no_answer", how=reason, confidence=top_conf, best_guess=top_name,
                        suggestions=tuple(suggestions), nearby=tuple(ranked(cfg.semantic_nearby, nearest)))
