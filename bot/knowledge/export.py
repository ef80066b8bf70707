"""The published knowledge base back in knowledge/entries/ format, so a change made in the
console can be reviewed as a change in git, checked by `make validate KNOWLEDGE=DIR`, and seed
another install.

Written the way the hand-written files are: questions plain where YAML allows, source passages
double-quoted, the signer and the date in reviewed_by / reviewed_on, `authored_by: clinic`
only on clinic-authored text. Unchanged entries export byte for byte as they are in
knowledge/entries/, so the diff shows only what changed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from bot.knowledge.checks import CLINIC
from bot.knowledge.entry import KnowledgeEntry


def _plain_or_quoted(text: str) -> str:
    """Plain if YAML reads the plain text back as the same string, else double-quoted."""
    try:
        plain_ok = yaml.safe_load(f"k: {text}") == {"k": text} and "#" not in text and not text.startswith(("'", '"'))
    except yaml.YAMLError:
        plain_ok = False
    return text if plain_ok else json.dumps(text, ensure_ascii=False)


def render(entry: KnowledgeEntry) -> str:
    lines = ["---", f"id: {entry.id}", f"title: {_plain_or_quoted(entry.title)}", "questions:"]
    lines += [f"  - {_plain_or_quoted(q)}" for q in entry.questions]
    if entry.source:
        lines.append("source:")
        lines += [f"  - {json.dumps(p, ensure_ascii=False)}" for p in entry.source]
    else:
        lines.append("source: []")
    if entry.authored_by == CLINIC:
        lines.append(f"authored_by: {CLINIC}")
    lines += [f"reviewed_by: {_plain_or_quoted(entry.reviewed_by)}", f"reviewed_on: {entry.reviewed_on}", "---",
              entry.answer, ""]
    return "\n".join(lines)


def published_files(url: str) -> Tuple[Dict[str, str], List[str]]:
    """({file name: text} of every live entry's published version, [ids left out: never
    published])."""
    from bot.knowledge import store

    files, left_out = {}, []
    for e in store.all_entries(url):
        if e.retired_at:
            continue
        if e.published is None:
            left_out.append(e.id)
            continue
        files[f"{e.id}.md"] = render(e.published.as_entry())
    return files, left_out


def export_published(url: str, directory: Path) -> Tuple[List[Path], List[str]]:
    """Write the published set into `directory` (created if needed); *.md files there that are
    not in the set are removed, so the directory is the published set exactly."""
    files, left_out = published_files(url)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.md"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in sorted(files.items()):
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written, left_out
