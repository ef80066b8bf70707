"""Load the clinician-editable triage rules (triage/*.yml), strictly.

Unknown keys, levels, directions or sign labels raise a TriageRulesError that names the file
and the key, so a typo in a rule file stops the start-up instead of silently weakening triage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from bot.config import paths

RULES_DIR = paths.ROOT / "triage"
SIGN_LEVELS = ("emergency", "urgent", "mild")
# The rows of the clinic's red-flag protocol (../shared/triage-protocol.md), by level.
PROTOCOL = {
    "emergency": ("airway / allergic reaction", "breathing", "heart / circulation", "brain / nerves",
                  "sepsis signs"),
    "urgent": ("infection", "skin circulation at the site", "bleeding", "allergy without airway signs",
               "systemic", "expected effect gone wrong"),
    "routine": ("routine",),
}
PROTOCOL_ROWS = tuple(row for rows in PROTOCOL.values() for row in rows)
MODIFIER_CATEGORIES = ("NEGATED", "HYPOTHETICAL", "HISTORICAL", "POSSIBLE", "WORSENING",
                       "SEVERE", "PERSISTENT", "TERMINATE")
DIRECTIONS = {"forward": "FORWARD", "backward": "BACKWARD", "both": "BIDIRECTIONAL",
              "terminate": "TERMINATE"}


class TriageRulesError(ValueError):
    pass


@dataclass(frozen=True)
class Sign:
    label: str
    level: str
    phrases: Tuple[str, ...]
    regex: Tuple[str, ...]
    protocol: str = "routine"


@dataclass(frozen=True)
class Modifier:
    category: str
    phrases: Tuple[str, ...]
    direction: str
    max_scope: Optional[int]
    applies_to: Optional[Tuple[str, ...]]


@dataclass
class TriageRules:
    signs: Dict[str, Sign]
    modifiers: List[Modifier]
    question_starts: Tuple[str, ...]
    personal_words: Tuple[str, ...]
    treated: Tuple[re.Pattern, ...]
    future: Tuple[re.Pattern, ...]
    third_party: Tuple[re.Pattern, ...]
    untreated: Tuple[re.Pattern, ...]
    children: Tuple[re.Pattern, ...]
    ordinary_illness: Tuple[re.Pattern, ...]
    typos: Dict[str, str]
    expected_mild_days: int
    sign_words: Tuple[str, ...] = field(default=())
    form: "MessageForm" = field(default=None)


CLAUSE_CUE_CATEGORIES = ("NEGATED", "HYPOTHETICAL", "HISTORICAL")


@dataclass(frozen=True)
class MessageForm:
    """context.yml `message_form`: what the form of a message may and may not cancel."""
    present_now: Tuple[re.Pattern, ...] = ()
    conditional: Tuple[re.Pattern, ...] = ()
    pseudo_negation: Tuple[re.Pattern, ...] = ()
    figures_of_speech: Tuple[re.Pattern, ...] = ()
    mild_qualifiers: Tuple[re.Pattern, ...] = ()
    question_forms: Tuple[re.Pattern, ...] = ()
    politeness: Tuple[re.Pattern, ...] = ()
    habitual: Tuple[re.Pattern, ...] = ()
    asking_about: Tuple[re.Pattern, ...] = ()
    not_a_person: Tuple[re.Pattern, ...] = ()
    worse_after_now: Tuple[re.Pattern, ...] = ()
    clause_cues: Dict[str, Tuple[re.Pattern, ...]] = field(default_factory=dict)


def _message_form(where: str, raw) -> MessageForm:
    if raw is None:
        return MessageForm()
    if not isinstance(raw, dict):
        raise TriageRulesError(f"{where}: expected a mapping")
    _only(where, raw, ("present_now", "conditional", "pseudo_negation", "figures_of_speech",
                       "mild_qualifiers", "question_forms", "politeness", "habitual", "asking_about", "not_a_person",
                       "worse_after_now", "clause_cues"))
    cues = raw.get("clause_cues") or {}
    if not isinstance(cues, dict):
        raise TriageRulesError(f"{where}.clause_cues: expected a mapping of category to patterns")
    _only(f"{where}.clause_cues", cues, CLAUSE_CUE_CATEGORIES)
    return MessageForm(
        present_now=_patterns(f"{where}.present_now", raw.get("present_now") or []),
        conditional=_patterns(f"{where}.conditional", raw.get("conditional") or []),
        pseudo_negation=_patterns(f"{where}.pseudo_negation", raw.get("pseudo_negation") or []),
        figures_of_speech=_patterns(f"{where}.figures_of_speech", raw.get("figures_of_speech") or []),
        mild_qualifiers=_patterns(f"{where}.mild_qualifiers", raw.get("mild_qualifiers") or []),
        question_forms=_patterns(f"{where}.question_forms", raw.get("question_forms") or []),
        politeness=_patterns(f"{where}.politeness", raw.get("politeness") or []),
        habitual=_patterns(f"{where}.habitual", raw.get("habitual") or []),
        asking_about=_patterns(f"{where}.asking_about", raw.get("asking_about") or []),
        not_a_person=_patterns(f"{where}.not_a_person", raw.get("not_a_person") or []),
        worse_after_now=_patterns(f"{where}.worse_after_now", raw.get("worse_after_now") or []),
        clause_cues={c: _patterns(f"{where}.clause_cues.{c}", v or []) for c, v in cues.items()},
    )


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last silently: a
    second `regex:` under a sign would drop the first list)."""


def _no_duplicate_keys(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def read_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)


def _read(path: Path) -> dict:
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise TriageRulesError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise TriageRulesError(f"{path}: expected a mapping at the top level")
    return data


def _only(where: str, data: dict, allowed: Tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise TriageRulesError(f"{where}: unknown key '{key}'; allowed: {', '.join(allowed)}")


def _phrases(where: str, value) -> Tuple[str, ...]:
    if not isinstance(value, list):
        raise TriageRulesError(f"{where}: expected a list of phrases")
    for i, p in enumerate(value, 1):
        if not isinstance(p, str) or not p.strip():
            hint = " (YAML reads bare no/yes/on/off as true/false: put it in quotes)" if isinstance(p, bool) else ""
            raise TriageRulesError(f"{where}: item {i} ({p!r}) is not a phrase{hint}")
    return tuple(" ".join(str(p).lower().split()) for p in value)


def _patterns(where: str, value) -> Tuple[re.Pattern, ...]:
    if not isinstance(value, list):
        raise TriageRulesError(f"{where}: expected a list of regular expressions")
    out = []
    for i, pattern in enumerate(value, 1):
        try:
            out.append(re.compile(pattern, re.IGNORECASE))
        except (re.error, TypeError) as exc:
            raise TriageRulesError(f"{where}: pattern {i} is not a valid regular expression: {exc}") from exc
    return tuple(out)


def load_rules(rules_dir: Path = RULES_DIR) -> TriageRules:
    signs_file, context_file = rules_dir / "signs.yml", rules_dir / "context.yml"
    treatment_file, typos_file = rules_dir / "treatment.yml", rules_dir / "typos.yml"
    policy_file = rules_dir / "policy.yml"

    raw = _read(signs_file)
    _only(str(signs_file), raw, ("signs",))
    signs: Dict[str, Sign] = {}
    for label, spec in (raw.get("signs") or {}).items():
        where = f"{signs_file}: sign '{label}'"
        if not isinstance(spec, dict):
            raise TriageRulesError(f"{where}: expected level/phrases/regex")
        _only(where, spec, ("level", "protocol", "phrases", "regex"))
        if spec.get("level") not in SIGN_LEVELS:
            raise TriageRulesError(f"{where}: key 'level' must be one of {', '.join(SIGN_LEVELS)}")
        regex = tuple(spec.get("regex") or ())
        _patterns(f"{where}: key 'regex'", list(regex))
        protocol = spec.get("protocol")
        if protocol not in PROTOCOL_ROWS:
            raise TriageRulesError(f"{where}: key 'protocol' must be one of: {', '.join(PROTOCOL_ROWS)}")
        signs[label] = Sign(label, spec["level"], _phrases(f"{where}: key 'phrases'", spec.get("phrases") or []),
                            regex, protocol)
        if not signs[label].phrases and not regex:
            raise TriageRulesError(f"{where}: needs 'phrases' or 'regex'")
    if not signs:
        raise TriageRulesError(f"{signs_file}: no signs defined")

    raw = _read(context_file)
    _only(str(context_file), raw, ("modifiers", "general_question", "message_form"))
    form = _message_form(f"{context_file}: message_form", raw.get("message_form"))
    modifiers: List[Modifier] = []
    for category, items in (raw.get("modifiers") or {}).items():
        where = f"{context_file}: modifier '{category}'"
        if category not in MODIFIER_CATEGORIES:
            raise TriageRulesError(f"{where}: unknown category; allowed: {', '.join(MODIFIER_CATEGORIES)}")
        for i, item in enumerate(items or [], 1):
            w = f"{where} item {i}"
            if not isinstance(item, dict):
                raise TriageRulesError(f"{w}: expected phrases/direction/max_scope/applies_to")
            _only(w, item, ("phrases", "direction", "max_scope", "applies_to"))
            direction = DIRECTIONS.get(item.get("direction"))
            if direction is None:
                raise TriageRulesError(f"{w}: key 'direction' must be one of {', '.join(DIRECTIONS)}")
            applies = item.get("applies_to")
            if applies is not None:
                unknown = [a for a in applies if a not in signs]
                if unknown:
                    raise TriageRulesError(f"{w}: key 'applies_to' names unknown sign(s) {unknown}")
            scope = item.get("max_scope")
            if scope is not None and (not isinstance(scope, int) or scope < 1):
                raise TriageRulesError(f"{w}: key 'max_scope' must be a positive whole number")
            modifiers.append(Modifier(category, _phrases(f"{w}: key 'phrases'", item.get("phrases")),
                                      direction, scope, tuple(applies) if applies else None))
    gq = raw.get("general_question") or {}
    _only(f"{context_file}: general_question", gq, ("question_starts", "personal_words"))

    raw = _read(treatment_file)
    _only(str(treatment_file), raw, ("treated", "future", "third_party", "untreated", "children",
                                     "ordinary_illness", "treatment_words"))
    treatment_words = _phrases(f"{treatment_file}: key 'treatment_words'", raw.get("treatment_words") or [])
    raw_typos = _read(typos_file)
    typos = {}
    for wrong, right in raw_typos.items():
        if not isinstance(right, str):
            raise TriageRulesError(f"{typos_file}: '{wrong}' must map to a word")
        typos[str(wrong).lower()] = right.lower()
    policy = _read(policy_file)
    _only(str(policy_file), policy, ("expected_mild_days",))
    days = policy.get("expected_mild_days")
    if not isinstance(days, int) or days < 0:
        raise TriageRulesError(f"{policy_file}: key 'expected_mild_days' must be a whole number of days")

    words = sorted({w for s in signs.values() for p in s.phrases for w in re.findall(r"[a-z]+", p)}
                   | set(treatment_words))
    return TriageRules(
        signs=signs, modifiers=modifiers,
        question_starts=_phrases(f"{context_file}: general_question.question_starts", gq.get("question_starts") or []),
        personal_words=_phrases(f"{context_file}: general_question.personal_words", gq.get("personal_words") or []),
        treated=_patterns(f"{treatment_file}: key 'treated'", raw.get("treated") or []),
        future=_patterns(f"{treatment_file}: key 'future'", raw.get("future") or []),
        third_party=_patterns(f"{treatment_file}: key 'third_party'", raw.get("third_party") or []),
        untreated=_patterns(f"{treatment_file}: key 'untreated'", raw.get("untreated") or []),
        children=_patterns(f"{treatment_file}: key 'children'", raw.get("children") or []),
        ordinary_illness=_patterns(f"{treatment_file}: key 'ordinary_illness'", raw.get("ordinary_illness") or []),
        typos=typos, expected_mild_days=days, sign_words=tuple(words), form=form,
    )
