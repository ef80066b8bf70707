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

import numpy as np

from bot.config import paths
from bot.escalation.levels import more_serious, rank
from bot.triage.normalise import INVISIBLE, Normaliser, chunk_end
from bot.triage.clauses import split_clauses
from bot.triage.rules import RULES_DIR, TriageRules, load_rules
from bot.triage.timing import days_since_treatment

IGNORING = ("NEGATED", "HYPOTHETICAL", "HISTORICAL", "FIGURATIVE")
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
    protocol: str = "routine"
    source: str = "rule"            # rule | similarity
    score: Optional[float] = None   # cosine similarity, for a similarity finding


@dataclass
class NearMiss:
    """A clause close to a red-flag description but under its threshold: the assistant asks
    the guided check rather than guess."""
    group: str
    protocol: str
    level: str
    score: float
    start: int
    end: int


@dataclass
class TriageResult:
    level: str
    findings: List[Finding] = field(default_factory=list)
    days_since_treatment: Optional[int] = None
    treated: bool = False
    future_treatment: bool = False
    third_party: bool = False
    near: List[NearMiss] = field(default_factory=list)
    body_report: bool = False       # any sign at all, counted or set aside (guided-check cue)

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


SEMANTIC_SIGN_LEVEL = {"emergency": "emergency", "urgent": "urgent", "routine": "mild"}


def level_if_counted(engine, match, mods, days, treated, future, untreated_other, sentence, clause) -> str:
    """The level a near miss would have if it counted (none: not about a treated person)."""
    other = engine._third_party_here(sentence, clause)
    return engine._level(SEMANTIC_SIGN_LEVEL[match.group.level], match.group.name, sorted(mods), days,
                         treated, future, untreated_other and other, False)[0]
STATE_VERB = re.compile(r"\b(is|are|'s|'re|has|have|looks|feels|seems|turned|went|came up|started|was|were)\b")
FIRST_PERSON = re.compile(r"\b(i|i'm|im|i've|ive|i'd|me|my|mine|myself)\b")


class TriageEngine:
    def __init__(self, rules_dir: Path = RULES_DIR, rules: Optional[TriageRules] = None,
                 semantic: bool = True, encoder=None):
        """`semantic=False` gives the rules alone (for comparison); by default the shared
        sentence encoder must load, or the engine does not start."""
        self.rules = rules or load_rules(rules_dir)
        self.normalise = Normaliser(self.rules.typos, self.rules.sign_words, _known_words())
        self.nlp = self._build_pipeline(self.rules)
        self.semantic = None
        if semantic:
            from bot.triage.semantic import (SemanticMatcher, load_bank, load_head_threshold, load_margin,
                                             load_overrule_mild, load_rivals)

            if encoder is None:
                from bot.encoder.model import shared_encoder

                encoder = shared_encoder()
            bank = rules_dir / "red_flags.yml"
            self.semantic = SemanticMatcher(load_bank(bank), encoder, load_margin(bank),
                                            load_rivals(bank), load_head_threshold(bank))
            self.overrule_mild = load_overrule_mild(bank)
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
                # One space per invisible character: the spans hold, and staff see what was typed.
                for f in spaced.findings:
                    f.text = text[f.start:f.end]
                return spaced
        return result

    def _assess(self, text: str, days: Optional[int], treated: bool) -> TriageResult:
        norm, offsets = self.normalise(text)
        rules = self.rules
        treated = treated or any(p.search(norm) for p in rules.treated)
        future = not treated and any(p.search(norm) for p in rules.future)
        third_party = any(p.search(norm) for p in rules.third_party)
        # Someone else's signs count unless that person is said to be untreated, or is a child
        # and no treatment is mentioned (a child's cold).
        # Untreated: said so, or an everyday illness is named; a child with no treatment
        # mentioned only for non-emergency signs (a child's seizure still gets 911 advice).
        said_untreated = any(p.search(norm) for p in rules.untreated) or \
            any(p.search(norm) for p in rules.ordinary_illness)
        untreated_other = said_untreated or any(p.search(norm) for p in rules.children)
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
        clauses = split_clauses(norm)
        rule_findings = []  # (finding, norm start, norm end)
        for ent in doc.ents:
            sign = rules.signs[ent.label_]
            mods = {m.category for m in ent._.modifiers
                    if not (m.category == "NEGATED" and self._pseudo_negation(doc, m))
                    and not self._other_sentence(norm, doc, m, ent)
                    and not (m.category in UPGRADING + ("PERSISTENT",) and self._negated_cue(doc, m))}
            if self._general_question(ent.sent):
                mods.add("HYPOTHETICAL")
            if sign.level == "mild" and not (set(UPGRADING) & mods) and any(
                    p.search(norm[ent.end_char:ent.sent.end_char]) for p in rules.form.worse_after_now):
                mods.add("WORSENING")
            clause = self._clause_text(norm, clauses, ent.start_char)
            if any(p.search(clause) for p in rules.form.asking_about):
                mods.add("HYPOTHETICAL")
            mods = self._present_now(mods, clause, norm)
            if self._figurative(clause, ent.start_char - self._clause_start(clauses, ent.start_char),
                                ent.end_char - self._clause_start(clauses, ent.start_char)):
                mods.add("FIGURATIVE")
            mods = sorted(mods)
            other = self._third_party_here(ent.sent.text, clause)
            level, why = self._level(sign.level, ent.label_, mods, days, treated, future,
                                     untreated_other and other, said_untreated and other)
            start = offsets[ent.start_char]
            end = chunk_end(text, offsets[ent.end_char - 1])
            finding = Finding(label=ent.label_, sign_level=sign.level, text=text[start:end],
                              start=start, end=end, modifiers=mods, level=level, why=why,
                              protocol=sign.protocol)
            rule_findings.append((finding, ent.start_char, ent.end_char))
            result.findings.append(finding)
            result.level = more_serious(result.level, level)
        if self.semantic is not None:
            self._add_similarity_findings(result, text, norm, offsets, doc, clauses, rule_findings,
                                          days, treated, future, untreated_other, said_untreated)
        else:
            self._sepsis_combination(result, [], text, offsets)
        self._rash_with_faintness(result)
        # Worth the guided red-flag check: a mild effect, or a clause near a red flag.
        result.body_report = bool(result.near) or result.level == "routine"
        return result

    # --- the form of the message -------------------------------------------------------

    @staticmethod
    def _clause_start(clauses, pos: int) -> int:
        for a, b in clauses:
            if a <= pos < b:
                return a
        return 0

    @staticmethod
    def _clause_text(norm: str, clauses, pos: int) -> str:
        for a, b in clauses:
            if a <= pos < b:
                return norm[a:b]
        return norm

    @staticmethod
    def _other_sentence(norm: str, doc, modifier, ent) -> bool:
        """A cue across a sentence end ("Is it normal to be this drowsy? I nodded off...") is
        about another sentence; the sentence splitter does not always see the break."""
        a, b = modifier.modifier_span
        cue_start, cue_end = doc[a].idx, doc[b - 1].idx + len(doc[b - 1])
        if cue_end <= ent.start_char:
            between = norm[cue_end:ent.start_char]
        elif ent.end_char <= cue_start:
            between = norm[ent.end_char:cue_start]
        else:
            return False
        return bool(re.search(r"[.?!](\s|$)", between))

    @staticmethod
    def _negated_cue(doc, modifier) -> bool:
        """"Not getting worse", "no bigger": a denied worsening is not a worsening; nor is "a lot
        less" or "so much better" an intensity."""
        a, b = modifier.modifier_span
        before = " ".join(t.lower_ for t in doc[max(0, a - 3):a])
        after = doc[b].lower_ if b < len(doc) else ""
        return bool(re.search(r"\b(not|no|n't|never|isn't|isnt|aren't|arent|hasn't|hasnt|nothing)\b", before)) \
            or after in ("less", "better", "fewer", "smaller", "calmer", "improved")

    def _pseudo_negation(self, doc, modifier) -> bool:
        """"No big deal but my throat is tight": a manner of speaking, not a denial."""
        a = modifier.modifier_span[0]
        following = doc[a: a + 6].text.lower()
        return any(p.search(following) for p in self.rules.form.pseudo_negation)

    def _present_now(self, mods: set, clause: str, message: str = "") -> set:
        """A sign the clause says is happening now is not undone by question wording or a
        habit mentioned nearby; only a conditional ("if I get...") keeps it supposed."""
        form = self.rules.form
        if not ({"HYPOTHETICAL", "HISTORICAL"} & mods):
            return mods
        for p in form.politeness:
            clause = p.sub(" ", clause)
        asked_about = clause
        for p in form.question_forms:
            asked_about = p.sub(" ", asked_about)
        asked = asked_about != clause
        state = asked and STATE_VERB.search(asked_about)
        # "Is chest squeezing a side effect? It's been going for 15 minutes": a question about
        # a sign the rest of the message says is there.
        elsewhere = asked and any(p.search(message) for p in form.present_now)
        if not (state or elsewhere) and not any(p.search(clause) for p in form.present_now):
            return mods
        if "HYPOTHETICAL" in mods and any(p.search(asked_about) for p in form.conditional):
            return mods
        if "HISTORICAL" in mods and any(p.search(clause) for p in form.habitual):
            return mods - {"HYPOTHETICAL"}
        return mods - {"HYPOTHETICAL", "HISTORICAL"}

    def _figurative(self, clause: str, start: int, end: int) -> bool:
        """The sign's words are inside a figure of speech ("the price gave me a heart attack"),
        or its clause is about an animal."""
        if any(p.search(clause) for p in self.rules.form.not_a_person):
            return True
        for p in self.rules.form.figures_of_speech:
            for m in p.finditer(clause):
                if m.start() <= start and end <= m.end() or (start <= m.start() < end) or (start < m.end() <= end):
                    return True
        return False

    def _third_party_here(self, sentence: str, clause: str) -> bool:
        """About someone else only when the sign's own sentence names another person and its
        clause does not speak of the writer ("my wife says I look pale" is about me)."""
        if FIRST_PERSON.search(clause) and not any(p.search(clause) for p in self.rules.third_party):
            return False
        return any(p.search(sentence) for p in self.rules.third_party)

    def _clause_cues(self, clause: str) -> set:
        for p in self.rules.form.politeness:
            clause = p.sub(" ", clause)
        mods = set()
        if any(p.search(clause) for p in self.rules.form.question_forms):
            mods.add("HYPOTHETICAL")  # "should I worry if...": counted again if a state follows
        for category, patterns in self.rules.form.clause_cues.items():
            for p in patterns:
                m = p.search(clause)
                if m and not (category == "NEGATED" and any(
                        q.search(clause[m.start():m.start() + 40]) for q in self.rules.form.pseudo_negation)):
                    mods.add(category)
                    break
        return mods

    def _add_similarity_findings(self, result: TriageResult, text: str, norm: str, offsets,
                                 doc, clauses, rule_findings, days, treated, future,
                                 untreated_other, said_untreated) -> None:
        counted_matches = []
        matches = self.semantic.match(norm, clauses)
        for match in matches:
            a, b = match.start, match.end
            in_clause = [f for f, s0, e0 in rule_findings if a <= s0 < b]
            same_group = [f for f in in_clause if f.protocol == match.group.protocol]
            if any(f.level != "none" for f in same_group):
                mods = set()
            elif same_group:
                # The rules found a sign of this group here and set it aside ("no fever, no
                # pus"): the same reason holds for its meaning.
                mods = set(same_group[0].modifiers)
            else:
                clause = norm[a:b]
                mods = self._clause_cues(clause)
                if any(p.search(clause) for p in self.rules.form.asking_about):
                    mods.add("HYPOTHETICAL")
                sent = next((s for s in doc.sents if s.start_char <= a < s.end_char), None)
                if (sent is not None and self._general_question(sent)) or \
                        self._general_question_clause(clause, norm[b:b + 1] == "?",
                                                      norm[sent.start_char:a] if sent is not None else ""):
                    mods.add("HYPOTHETICAL")
                mods = self._present_now(mods, clause, norm)
                if self._figurative(clause, 0, b - a):
                    mods.add("FIGURATIVE")
            start, end = offsets[a], chunk_end(text, offsets[b - 1])
            sentence = next((s.text for s in doc.sents if s.start_char <= a < s.end_char), norm[a:b])
            mild_by_rule = (match.group.level == "urgent" and match.strength < self.overrule_mild and any(
                f.sign_level == "mild" and f.level == "routine" for f in in_clause))
            rule_mild_here = any(f.sign_level == "mild" and f.level == "routine" for f in in_clause)
            mild_said = mild_by_rule or ((match.group.severity_defined or rule_mild_here) and not ({"WORSENING", "SEVERE"} & mods)
                         and not any({"WORSENING", "SEVERE"} & set(f.modifiers) for f in in_clause)
                         and any(p.search(norm[a:b]) for p in self.rules.form.mild_qualifiers))
            if match.counts and not mild_said and not (set(IGNORING) & mods):
                counted_matches.append(match)
            if not match.counts or mild_said:
                if not (set(IGNORING) & mods) and level_if_counted(self, match, mods, days, treated, future,
                                                                   untreated_other, sentence, norm[a:b]) != "none":
                    result.near.append(NearMiss(match.group.name, match.group.protocol, match.group.level,
                                                round(match.score, 3), start, end))
                continue
            other = self._third_party_here(sentence, norm[a:b])
            level, why = self._level(SEMANTIC_SIGN_LEVEL[match.group.level], match.group.name,
                                     sorted(mods), days, treated, future,
                                     untreated_other and other, said_untreated and other)
            result.findings.append(Finding(
                label=match.group.name.upper(), sign_level=SEMANTIC_SIGN_LEVEL[match.group.level],
                text=text[start:end], start=start, end=end, modifiers=sorted(mods), level=level,
                why=f"{why}; similarity {match.score:.2f} to \"{match.description}\""
                    + (f"; group classifier {match.head:.2f}" if match.head else ""),
                protocol=match.group.protocol, source="similarity", score=round(match.score, 3)))
            result.level = more_serious(result.level, level)
        self._sepsis_combination(result, matches, text, offsets)

    FAINTNESS = re.compile(r"\b(faint\w*|light.?headed\w*|dizz\w*|woozy|pass(ing|ed)? out|black(ing|ed)? out|"
                           r"go(ing)? down|keel\w* over|collaps\w*)\b", re.IGNORECASE)

    def _rash_with_faintness(self, result: TriageResult) -> None:
        """Protocol, airway / allergic reaction: "feeling faint with a rash" is an emergency,
        although a rash alone and dizziness alone are each urgent."""
        if result.level == "emergency":
            return
        rash = [f for f in result.findings if f.protocol == "allergy without airway signs" and f.level == "urgent"]
        faint = [f for f in result.findings if f.level == "urgent" and f.protocol in ("systemic", "heart / circulation")
                 and self.FAINTNESS.search(f.text)]
        if rash and faint:
            f = faint[0]
            result.findings.append(Finding(
                label="RASH_WITH_FAINTNESS", sign_level="emergency", text=f.text, start=f.start, end=f.end,
                modifiers=[], level="emergency", why=f"feeling faint with a rash (\"{rash[0].text}\")",
                protocol="airway / allergic reaction", source=f.source, score=f.score))
            result.level = "emergency"

    SEPSIS_COMPANIONS = ("confusion_drowsy", "breathing", "heart_circulation")
    COMPANION_SLACK = 0.03

    def _sepsis_combination(self, result: TriageResult, matches, text: str, offsets) -> None:
        """Protocol: high fever *with* confusion, fast breathing, mottled skin or no urine is an
        emergency. A counted infection sign plus a clause close to one of those (near its
        threshold) raises the message to emergency: when in doubt, the safer level."""
        infection = [f for f in result.findings if f.protocol == "infection" and f.level == "urgent"]
        if result.level == "emergency" or not infection:
            return
        for f in result.findings:
            if f.protocol == "sepsis signs" and f.level == "urgent":  # e.g. no urine, with a fever
                result.findings.append(Finding(
                    label="SEPSIS_SIGNS", sign_level="emergency", text=f.text, start=f.start, end=f.end,
                    modifiers=[], level="emergency", why=f"infection sign with {f.label.lower()}",
                    protocol="sepsis signs", source=f.source, score=f.score))
                result.level = "emergency"
                return
        top_of_clause = {}
        for m in matches:
            top_of_clause[m.start] = max(top_of_clause.get(m.start, 0.0), m.strength)
        for m in matches:
            if m.strength < top_of_clause[m.start]:
                continue
            elsewhere = all(not (offsets[m.start] <= f.start < chunk_end(text, offsets[m.end - 1]))
                            for f in infection)
            if m.group.name in self.SEPSIS_COMPANIONS and elsewhere and \
                    m.strength >= m.group.threshold - self.COMPANION_SLACK:
                start, end = offsets[m.start], chunk_end(text, offsets[m.end - 1])
                result.findings.append(Finding(
                    label="SEPSIS_SIGNS", sign_level="emergency", text=text[start:end], start=start,
                    end=end, modifiers=[], level="emergency",
                    why=f"infection sign with {m.group.name} (similarity {m.score:.2f} to \"{m.description}\")",
                    protocol="sepsis signs", source="similarity", score=round(m.score, 3)))
                result.level = "emergency"
                return

    def clause_vectors(self, text: str):
        """The message's clauses (spans in the original text) and their sentence vectors: the
        same encoder pass that triage makes, shared with answer selection."""
        norm, offsets = self.normalise(text or "")
        spans = split_clauses(norm)
        if not spans or self.semantic is None:
            return [], np.zeros((0, 384), dtype=np.float32)
        vectors = self.semantic.encoder.encode_cached(tuple(norm[a:b] for a, b in spans))
        return [(offsets[a], chunk_end(text, offsets[b - 1])) for a, b in spans], vectors

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

    LEAD_IN = frozenset({"hi", "hello", "hey", "ok", "okay", "so", "and", "also", "sorry", "thanks", "quick",
                         "question", "please", "um", "hmm", "well", "doctor", "dear"})

    def _general_question(self, sent) -> bool:
        """"Hi, are the injections painful?": a greeting or filler in front does not stop a
        general question being one."""
        words = [t.lower_ for t in sent if not t.is_punct and not t.is_space]
        return sent.text.strip().endswith("?") and self._asks_in_general(words)

    def _asks_in_general(self, words: List[str]) -> bool:
        """Starts with a question word (after any lead-in) and names nobody."""
        while words and words[0] in self.LEAD_IN:
            words = words[1:]
        if not words or words[0] not in self.rules.question_starts:
            return False
        return not set(words) & set(self.rules.personal_words)

    def _general_question_clause(self, clause: str, asked: bool, before: str = "") -> bool:
        """The same test for one clause ending in "?": "how long does redness usually last? just
        so I know" asks in general, although the sentence after it says "I". Not when its own
        sentence has named someone before it ("my dad had his session, does a drooping face
        mean a stroke?")."""
        if set(re.findall(r"[a-z']+", before.lower())) & set(self.rules.personal_words):
            return False
        return (asked or clause.rstrip().endswith("?")) and self._asks_in_general(re.findall(r"[a-z']+", clause.lower()))

    def _level(self, sign_level: str, label: str, mods: List[str], days: Optional[int],
               treated: bool, future: bool, third_party: bool, untreated: bool = False):
        ignoring = [m for m in mods if m in IGNORING]
        if ignoring:
            return "none", f"{ignoring[0].lower()}"
        if untreated:
            return "none", "about someone said not to be treated"
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
