"""Generate the Rasa training data and domain part for the knowledge base.

knowledge/entries/*.md is the one source of truth; the files written here are derived,
deterministic (sorted, no timestamps) and carry a do-not-edit header, so a stale copy is
detectable by regenerating in memory and comparing (see `check`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from bot.config import paths
from bot.knowledge.loader import KnowledgeBase, load_knowledge_base

ANSWER_ACTION = "action_answer_question"
HEADER = (
    "# generated from knowledge/ by `python -m bot.knowledge build` - do not edit.\n"
    "# Edit the entry files in knowledge/entries/ instead; `make run` regenerates this file.\n"
)


# Patients wrap questions in context that says nothing about the topic: greetings, where they
# are in their treatment. A question of every entry is repeated behind each kind of context so
# the classifier learns to look past it. (Denials are masked by DenialAwareTokenizer.)
# Deterministic: the same entry always gets the same variants.
CONTEXT_PREFIXES = (
    ("Hi there,", "Good morning!", "Hello, quick question:", "Sorry if this is silly, but"),
    ("I had my first session last week.", "My appointment is next month.",
     "I'm still deciding whether to book."),
)


def _with_context(entry) -> list:
    """One question behind a greeting, one behind treatment status."""
    seed = sum(map(ord, entry.id))
    out = []
    for i, group in enumerate(CONTEXT_PREFIXES):
        q = entry.questions[(seed + 7 * i) % len(entry.questions)]
        out.append(f"{group[(seed + i) % len(group)]} {q[0].lower() + q[1:]}")
    return out


def _quote(text: str) -> str:
    # Rasa reads each example line as-is after "- "; keep one line and no leading YAML markers.
    return " ".join(text.split())


def render_nlu(kb: KnowledgeBase) -> str:
    lines = [HEADER, 'version: "3.1"', "nlu:"]
    for entry in kb:
        lines.append(f"  - intent: {entry.intent}")
        lines.append("    examples: |")
        lines.extend(f"      - {_quote(q)}" for q in entry.questions)
        lines.extend(f"      - {_quote(q)}" for q in _with_context(entry) if q not in entry.questions)
    return "\n".join(lines) + "\n"


def render_rules(kb: KnowledgeBase) -> str:
    lines = [HEADER, 'version: "3.1"', "rules:"]
    for entry in kb:
        lines += [
            f"  - rule: answer {entry.id} from the knowledge base",
            "    steps:",
            f"      - intent: {entry.intent}",
            f"      - action: {ANSWER_ACTION}",
        ]
    return "\n".join(lines) + "\n"


def render_domain(kb: KnowledgeBase) -> str:
    lines = [HEADER, 'version: "3.1"', "intents:"]
    lines.extend(f"  - {entry.intent}" for entry in kb)
    return "\n".join(lines) + "\n"


GENERATED_FILES = (paths.GENERATED_DATA_DIR / "knowledge_nlu.yml", paths.GENERATED_DATA_DIR / "knowledge_rules.yml",
                   paths.GENERATED_DOMAIN_FILE)


def render_all(kb: KnowledgeBase) -> Dict[Path, str]:
    return dict(zip(GENERATED_FILES, (render_nlu(kb), render_rules(kb), render_domain(kb))))


def build(kb: KnowledgeBase | None = None) -> List[Path]:
    """Write the generated files; return those whose content changed."""
    kb = kb or load_knowledge_base()
    changed = []
    for path, text in render_all(kb).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale_files(kb: KnowledgeBase | None = None) -> List[Path]:
    kb = kb or load_knowledge_base()
    return [p for p, text in render_all(kb).items()
            if not p.exists() or p.read_text(encoding="utf-8") != text]
