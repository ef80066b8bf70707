"""Red-flag matching by meaning: each clause of a message against the protocol's descriptions.

The rules (signs.yml) know the words a clinician listed; patients use others ("lips like a
balloon", "it's like breathing through a straw"). Here each clause is encoded by the shared
sentence encoder and compared with every description in triage/red_flags.yml; a clause at or
above its group's threshold is a finding of that group, and one between `near` and the
threshold is kept as a near miss (the assistant then asks the guided red-flag check).
Beside the nearest description, a linear head trained on the whole bank (each group's
descriptions against the other groups' and the non-reports) names each clause's most likely
group: a red-flag group it is sure of counts even when no single description is near enough.
What the finding means (denied, asked about, in the past) is decided with the rules'
modifiers in the engine, not here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

from bot.config import paths
from bot.encoder.head import probabilities, stored_head
from bot.triage.clauses import split_clauses
from bot.triage.rules import PROTOCOL as PROTOCOL_GROUPS
from bot.triage.rules import RULES_DIR, TriageRulesError, read_yaml

BANK_FILE = RULES_DIR / "red_flags.yml"
GROUP_LEVELS = ("emergency", "urgent", "routine")
NOT_A_REPORT = "(not a report)"  # the head's label for the rivals


@dataclass(frozen=True)
class Group:
    name: str
    level: str
    protocol: str
    threshold: float
    near: float
    descriptions: Tuple[str, ...]
    severity_defined: bool = False  # urgent only when severe/worse/lasting: "a bit" makes it a check
    requires: Optional["re.Pattern"] = None  # a word the clause must hold (airway: lips, throat...)
    head: bool = True  # the group head may make a near miss of this group count


@dataclass(frozen=True)
class Match:
    group: Group
    score: float
    description: str
    start: int
    end: int
    head: float = 0.0  # the group head's probability, when it is what made this match count

    @property
    def counts(self) -> bool:
        return self.score >= self.group.threshold or self.head > 0

    @property
    def strength(self) -> float:
        """The score the decisions use: a match the head made count is as strong as its
        group's threshold, whatever its nearest description scored."""
        return max(self.score, self.group.threshold) if self.head > 0 else self.score


def _number(where: str, value) -> float:
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise TriageRulesError(f"{where}: must be a number between 0 and 1")
    return float(value)


def load_margin(path: Path = BANK_FILE) -> float:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return _number(f"{path}: margin", raw.get("margin", 0.05))


def load_overrule_mild(path: Path = BANK_FILE) -> float:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return _number(f"{path}: overrule_mild", raw.get("overrule_mild", 0.70))


def load_head_threshold(path: Path = BANK_FILE) -> float:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return _number(f"{path}: head_threshold", raw.get("head_threshold", 0.5))


def load_not_reports(path: Path = BANK_FILE) -> Tuple[str, ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = raw.get("not_reports") or []
    if not isinstance(items, list) or not all(isinstance(d, str) and d.strip() for d in items):
        raise TriageRulesError(f"{path}: key 'not_reports' must be a list of phrases")
    return tuple(" ".join(d.split()) for d in items)


def _nlu_examples(path: Path) -> Dict[str, List[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: Dict[str, List[str]] = {}
    for block in data.get("nlu") or []:
        if "intent" in block:
            lines = [ln.strip()[2:].strip() for ln in (block.get("examples") or "").splitlines()
                     if ln.strip().startswith("- ")]
            out.setdefault(block["intent"], []).extend(ln for ln in lines if ln)
    return out


def load_rivals(path: Path = BANK_FILE, data_dir: Path = paths.ROOT / "data") -> Tuple[str, ...]:
    """`not_reports` plus, per `rivals_from`, the knowledge base's questions (but for the
    topics about symptoms) and the out-of-scope examples: questions are not reports."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    spec = raw.get("rivals_from") or {}
    unknown = set(spec) - {"knowledge_questions", "except_topics", "out_of_scope_examples"}
    if unknown:
        raise TriageRulesError(f"{path}: rivals_from: unknown key(s) {sorted(unknown)}")
    texts = list(load_not_reports(path))
    if spec.get("knowledge_questions"):
        skip = {f"kb_{t}" for t in spec.get("except_topics") or []}
        for intent, examples in _nlu_examples(data_dir / "generated" / "knowledge_nlu.yml").items():
            if intent.startswith("kb_") and intent.split("__")[0] not in skip:
                texts += examples
    if spec.get("out_of_scope_examples"):
        texts += _nlu_examples(data_dir / "nlu" / "out_of_scope.yml").get("out_of_scope", [])
    return tuple(dict.fromkeys(texts))


def load_bank(path: Path = BANK_FILE) -> List[Group]:
    """The red-flag groups, strictly: every protocol row must have at least one group."""
    try:
        raw = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise TriageRulesError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(raw, dict) or set(raw) - {"defaults", "margin", "overrule_mild", "head_threshold",
                                                "groups", "not_reports", "rivals_from"}:
        raise TriageRulesError(f"{path}: expected only the keys 'defaults', 'margin', 'overrule_mild', "
                               "'head_threshold', 'groups', 'rivals_from' and 'not_reports'")
    defaults = raw.get("defaults") or {}
    groups = []
    for name, spec in (raw.get("groups") or {}).items():
        where = f"{path}: group '{name}'"
        if not isinstance(spec, dict):
            raise TriageRulesError(f"{where}: expected level/protocol/descriptions")
        unknown = set(spec) - {"level", "protocol", "threshold", "near", "descriptions", "severity_defined",
                               "requires", "head"}
        if unknown:
            raise TriageRulesError(f"{where}: unknown key(s) {sorted(unknown)}")
        level = spec.get("level")
        if level not in GROUP_LEVELS:
            raise TriageRulesError(f"{where}: key 'level' must be one of {', '.join(GROUP_LEVELS)}")
        if spec.get("protocol") not in PROTOCOL_GROUPS[level]:
            raise TriageRulesError(f"{where}: key 'protocol' must name a {level} row of the protocol: "
                                   f"{', '.join(PROTOCOL_GROUPS[level])}")
        level_defaults = defaults.get(level) or {}
        threshold = _number(f"{where}: threshold", spec.get("threshold", level_defaults.get("threshold")))
        near = _number(f"{where}: near", spec.get("near", level_defaults.get("near")))
        if near > threshold:
            raise TriageRulesError(f"{where}: 'near' must not be above 'threshold'")
        descriptions = spec.get("descriptions")
        if not isinstance(descriptions, list) or not descriptions or \
                not all(isinstance(d, str) and d.strip() for d in descriptions):
            raise TriageRulesError(f"{where}: key 'descriptions' must be a list of phrases")
        requires = None
        if spec.get("requires") is not None:
            try:
                requires = re.compile(spec["requires"], re.IGNORECASE)
            except (re.error, TypeError) as exc:
                raise TriageRulesError(f"{where}: key 'requires' is not a valid regular expression: {exc}") from exc
            # A description the clause filter would refuse could never be matched.
            unreachable = [d for d in descriptions if not requires.search(d)]
            if unreachable:
                raise TriageRulesError(f"{where}: description(s) without a word 'requires' asks for: {unreachable}")
        groups.append(Group(name, level, spec["protocol"], threshold, near,
                            tuple(" ".join(d.split()) for d in descriptions),
                            bool(spec.get("severity_defined", False)), requires, bool(spec.get("head", True))))
    covered = {(g.level, g.protocol) for g in groups}
    missing = [f"{lvl}: {p}" for lvl, rows in PROTOCOL_GROUPS.items() for p in rows if (lvl, p) not in covered]
    if missing:
        raise TriageRulesError(f"{path}: protocol rows with no group: {', '.join(missing)}")
    return groups


class SemanticMatcher:
    def __init__(self, groups: Sequence[Group], encoder, margin: float = 0.05,
                 not_reports: Sequence[str] = (), head_threshold: Optional[float] = None):
        self.groups = list(groups)
        self.margin = margin
        self.head_threshold = head_threshold
        self.encoder = encoder
        self.not_reports = tuple(not_reports)
        self.rivals = encoder.encode_stored(list(self.not_reports)) if self.not_reports else None
        texts, owners = [], []
        for i, g in enumerate(self.groups):
            texts += g.descriptions
            owners += [i] * len(g.descriptions)
        self.texts = texts
        self.owners = np.array(owners)
        self.bank = encoder.encode_stored(texts)  # (descriptions, dim), unit rows
        self.rows_of = [np.flatnonzero(self.owners == i) for i in range(len(self.groups))]
        self.head = None
        if head_threshold is not None:
            self.head_names = [g.name for g in self.groups] + [NOT_A_REPORT]
            labels = [self.groups[i].name for i in owners] + [NOT_A_REPORT] * len(self.not_reports)
            vectors = np.vstack([self.bank, self.rivals]) if self.rivals is not None else self.bank
            self.head = stored_head(paths.ENCODER_DIR / "cache", "\n".join([encoder.onnx_sha256, *texts, *self.not_reports]),
                                    vectors, labels, self.head_names)

    def _decide(self, found: List[Match], rival: float) -> List[Match]:
        """A clause is what it is most like. It counts for a red-flag group when that group is
        at or above its threshold, closer than every non-report description, closer than the
        mild effects (a bit red is not spreading redness), and within `margin` of the
        clause's best group. Anything else at or above `near` is returned as a near miss
        (score capped under the threshold): the guided check asks about it."""
        if not found:
            return []
        top = max(found[0].score, rival)
        best_level = found[0].group.level if found[0].score >= rival else None
        mild = max((m.score for m in found if m.group.level == "routine"), default=0.0)
        out = []
        for m in found:
            # Within `margin` of the best, only a group of the best group's level counts: a
            # clause most like hives is not made an airway emergency by a close second.
            close = m.score == found[0].score or (m.score >= top - self.margin and m.group.level == best_level)
            counts = (m.score >= m.group.threshold and m.score > rival and close
                      and (m.group.level == "routine" or m.score > mild))
            if counts:
                out.append(m)
            elif m.score > rival - self.margin:
                out.append(Match(m.group, min(m.score, m.group.threshold - 1e-6), m.description,
                                 m.start, m.end))
        return out

    def clauses(self, text: str) -> List[Tuple[int, int]]:
        return split_clauses(text)

    def match(self, text: str, spans: Optional[List[Tuple[int, int]]] = None) -> List[Match]:
        """For each clause, the best description of each group scoring at least that group's
        `near`, best first within the clause."""
        spans = self.clauses(text) if spans is None else spans
        if not spans:
            return []
        vectors = self.encoder.encode_cached(tuple(text[a:b] for a, b in spans))
        scores = vectors @ self.bank.T  # (clauses, descriptions)
        rival = (vectors @ self.rivals.T).max(axis=1) if self.rivals is not None else np.zeros(len(spans))
        out: List[Match] = []
        for row, rival_score, (a, b) in zip(scores, rival, spans):
            best: Dict[int, int] = {}
            for j in np.flatnonzero(row >= min(g.near for g in self.groups)):
                gi = int(self.owners[j])
                if row[j] >= self.groups[gi].near and (gi not in best or row[j] > row[best[gi]]):
                    best[gi] = int(j)
            clause = text[a:b]
            found = sorted((Match(self.groups[gi], float(row[j]), self.texts[j], a, b)
                            for gi, j in best.items()
                            if self.groups[gi].requires is None or self.groups[gi].requires.search(clause)),
                           key=lambda m: -m.score)
            out += self._decide(found, float(rival_score))
        if self.head is not None:
            out = self._head_findings(text, spans, vectors, rival, out)
        return out

    def _head_findings(self, text: str, spans, vectors: np.ndarray, rival: np.ndarray,
                       found: List[Match]) -> List[Match]:
        """A clause at least halfway from `near` to the threshold of one of a group's descriptions,
        and closer to it than to any non-report, that the head gives to that red-flag group with at least `head_threshold`
        counts for the group, evidenced by that description. Groups marked `head: false` (sepsis,
        which the protocol defines as a combination) count by their descriptions only.
        Expected mild effects stay with the descriptions: the head only adds red flags."""
        probs = probabilities(vectors, *self.head)
        out = list(found)
        for k, (a, b) in enumerate(spans):
            row = probs[k]
            top = int(row.argmax())
            if top >= len(self.groups) or row[top] < self.head_threshold:
                continue
            group = self.groups[top]
            if group.level == "routine" or not group.head or \
                    (group.requires is not None and not group.requires.search(text[a:b])):
                continue
            if any(m.start == a and m.group is group and m.counts for m in out):
                continue
            rows = self.rows_of[top]
            sims = self.bank[rows] @ vectors[k]
            # Halfway from `near` to the threshold: the head weighs a clause like the group's
            # descriptions, not one merely in their neighbourhood ("she's a bit off with me").
            if sims.max() < (group.near + group.threshold) / 2 or sims.max() <= rival[k]:
                continue
            j = int(rows[int(sims.argmax())])
            out = [m for m in out if not (m.start == a and m.group is group)]
            out.append(Match(group, float(sims.max()), self.texts[j], a, b, head=float(row[top])))
        return out
