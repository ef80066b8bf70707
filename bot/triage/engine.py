"""The triage engine: medspaCy target rules find signs, ConText decides what they mean.

    engine = TriageEngine()
    engine.assess("I had the injections 2 days ago and now I have a fever").level  # "urgent"

The decision, per sign found (signs that are negated, hypothetical or historical are kept in
the result for staff but do not count):
  - an emergency sign counts whoever has it and whether or not a treatment is mentioned;
  - an urgent sign counts unless the message is clearly about someone untreated (a relative
    with no treatment mentioned) or about a treatment still to come;
  - a mild effect is routine, and urgent when it is severe, getting
    worse or spreading, or still there after `expected_mild_days`; a chronic condition
    (dandruff, "always") is historical and does not count.
The message level is the most serious level found. When unsure, the safer level wins.
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional

from bot import paths
from bot.escalation.levels import more_serious, rank
from bot.triage.normalise import INVISIBLE, Normaliser, chunk_end
from bot.triage.rules import RULES_DIR, TriageRules, load_rules
from bot.triage.timing import days_since_treatment

IGNORING = ("NEGATED", "HYPOTHETICAL", "HISTORICAL")
UPGRADING = ("WORSENING", "SEVERE")


@dataclass
class Finding:
    label: str
    sign_level: str
    text: str
    start: int
    end: int
    modifiers: List[str]
    level: str
    why: str


@dataclass
class TriageResult:
    level: str
    findings: List[Finding] = field(default_factory=list)
    days_since_treatment: Optional[int] = None
    treated: bool = False
    future_treatment: bool = False
    third_party: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def counted(self) -> List[Finding]:
        return [f for f in self.findings if f.level != "none"]


def _known_words() -> Iterable[str]:
    """Words the assistant's own texts use: never 'corrected' into a sign word."""
    words = set()
    sources = list((paths.ROOT / "data" / "nlu").glob("*.yml")) + list(paths.ENTRIES_DIR.glob("*.md"))
    for path in sources:
        try:
            words.update(re.findall(r"[a-z][a-z']+", path.read_text(encoding="utf-8").lower()))
        except OSError:
            continue
    return words


class TriageEngine:
    def __init__(self, rules_dir: Path = RULES_DIR, rules: Optional[TriageRules] = None):
        self.rules = rules or load_rules(rules_dir)
        self.normalise = Normaliser(self.rules.typos, self.rules.sign_words, _known_words())
        self.nlp = self._build_pipeline(self.rules)
        # The tokenizer (denied spans) and the triage component (levels) read the same
        # message: parse it once.
        self._parse = lru_cache(maxsize=256)(self.nlp)

    @staticmethod
    def _build_pipeline(rules: TriageRules):
        from loguru import logger as loguru_logger

        # PyRuSH logs every token through loguru at DEBUG: noisy, and it would log patient text.
        loguru_logger.disable("PyRuSH")
        import medspacy
        from medspacy.context import ConTextRule
        from medspacy.target_matcher import TargetRule

        # PyFastNER (under PyRuSH) logs its rule compilation through the root logger.
        logging.disable(logging.INFO)
        try:
            nlp = medspacy.load(medspacy_enable=["medspacy_pyrush", "medspacy_target_matcher",
                                                 "medspacy_context"], load_rules=False)
        finally:
            logging.disable(logging.NOTSET)
        targets = []
        for sign in rules.signs.values():
            targets += [TargetRule(literal=p, category=sign.label) for p in sign.phrases]
            targets += [TargetRule(literal=f"{sign.label} pattern {i}", category=sign.label, pattern=rx)
                        for i, rx in enumerate(sign.regex, 1)]
        nlp.get_pipe("medspacy_target_matcher").add(targets)
        context_rules = []
        for mod in rules.modifiers:
            for phrase in mod.phrases:
                context_rules.append(ConTextRule(
                    literal=phrase, category=mod.category, direction=mod.direction,
                    max_scope=mod.max_scope,
                    allowed_types=set(mod.applies_to) if mod.applies_to else None))
        nlp.get_pipe("medspacy_context").add(context_rules)
        return nlp

    def assess(self, text: str, days: Optional[int] = None, treated: bool = False) -> TriageResult:
        """Triage one message. `days` and `treated` carry what is already known from earlier
        in the conversation (or a form); the message itself can only add to them.

        Invisible characters are dropped by the normaliser ("fe\u200bver" is a fever), but one
        pasted between two words would join them ("high\u200bfever"): such a message is also
        read with them as spaces, and the more serious reading counts."""
        result = self._assess(text or "", days, treated)
        if INVISIBLE.search(text or ""):
            spaced = self._assess(INVISIBLE.sub(" ", text), days, treated)
            if rank(spaced.level) > rank(result.level):
                return spaced
        return result

    def _assess(self, text: str, days: Optional[int], treated: bool) -> TriageResult:
        norm, offsets = self.normalise(text)
        rules = self.rules
        treated = treated or any(p.search(norm) for p in rules.treated)
        future = not treated and any(p.search(norm) for p in rules.future)
        third_party = any(p.search(norm) for p in rules.third_party)
        said_days = days_since_treatment(norm)
        if said_days is not None:
            days = said_days if days is None else max(days, said_days)
        if days is not None and not future:
            treated = True

        result = TriageResult(level="none", days_since_treatment=days, treated=treated,
                              future_treatment=future, third_party=third_party)
        if not norm.strip():
            return result
        doc = self._parse(norm)
        for ent in doc.ents:
            sign = rules.signs[ent.label_]
            mods = sorted({m.category for m in ent._.modifiers})
            if self._general_question(ent.sent):
                mods = sorted(set(mods) | {"HYPOTHETICAL"})
            level, why = self._level(sign.level, ent.label_, mods, days, treated, future, third_party)
            start = offsets[ent.start_char]
            end = chunk_end(text, offsets[ent.end_char - 1])
            result.findings.append(Finding(label=ent.label_, sign_level=sign.level,
                                           text=text[start:end], start=start, end=end,
                                           modifiers=mods, level=level, why=why))
            result.level = more_serious(result.level, level)
        return result

    def denied_spans(self, text: str) -> List[tuple]:
        """Character spans of denied signs with their negation cue ("no swelling", "no fever
        at all"), in the original text. The classifier is trained and run without these:
        a denial is context, not the question."""
        norm, offsets = self.normalise(text or "")
        if not norm.strip():
            return []
        doc = self._parse(norm)
        spans = []
        for ent in doc.ents:
            for mod in ent._.modifiers:
                if mod.category != "NEGATED":
                    continue
                a, b = mod.modifier_span
                start_tok, end_tok = min(a, ent.start), max(b, ent.end)
                start_char = doc[start_tok].idx
                end_char = doc[end_tok - 1].idx + len(doc[end_tok - 1])
                spans.append((offsets[start_char], chunk_end(text or "", offsets[end_char - 1])))
        return spans

    def _general_question(self, sent) -> bool:
        words = [t.lower_ for t in sent if not t.is_punct and not t.is_space]
        if not words or not sent.text.strip().endswith("?"):
            return False
        if words[0] not in self.rules.question_starts:
            return False
        personal = set(self.rules.personal_words)
        return not any(w in personal for w in words)

    def _level(self, sign_level: str, label: str, mods: List[str], days: Optional[int],
               treated: bool, future: bool, third_party: bool):
        ignoring = [m for m in mods if m in IGNORING]
        if ignoring:
            return "none", f"{ignoring[0].lower()}"
        if sign_level == "emergency":
            return "emergency", "emergency sign"
        unrelated = future or (third_party and not treated)
        if sign_level == "urgent":
            if unrelated:
                return "none", "not about a treated person"
            return "urgent", "warning sign"
        # A mild effect.
        if unrelated:
            return "none", "not about a treated person"
        if any(m in mods for m in UPGRADING):
            return "urgent", "mild effect getting worse or severe"
        if days is not None and days > self.rules.expected_mild_days:
            return "urgent", f"still there on day {days}"
        if treated:
            return "routine", "expected mild effect"
        # Someone telling a clinic's assistant about a mild effect is most likely a patient;
        # chronic scalp conditions and questions were already set aside by the modifiers.
        return "routine", "mild effect, treatment not mentioned"
