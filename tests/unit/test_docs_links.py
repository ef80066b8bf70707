"""README.md stays a front door, and no link in it or in docs/ leads nowhere.

Every relative Markdown link `[text](path)` or `[text](path#anchor)` in README.md and
docs/*.md must name an existing file (relative to the linking file), and every anchor must be
a heading of the target, slugged as GitHub slugs it. External links are not fetched; paths
written in backticks are not links and are not checked here.
"""
import re
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from bot.config import paths

README = paths.ROOT / "README.md"
DOCS = sorted((paths.ROOT / "docs").glob("*.md"))
README_MAX_LINES = 220

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) or [text](target "title"); an image ![alt](target) is checked the same way.
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) outside fenced code blocks: a link in a code block is code."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield number, line


def _heading_text(raw: str) -> str:
    """The heading's text as GitHub renders it, which is what it slugs: code spans keep their
    text (underscores included), links keep their text, emphasis markers go."""
    out, last = [], 0
    for m in _INLINE_CODE.finditer(raw):
        out.append(_plain(raw[last:m.start()]))
        out.append(m.group(2))
        last = m.end()
    out.append(_plain(raw[last:]))
    return "".join(out)


def _plain(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"\*+|(?<!\w)_+|_+(?!\w)", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase; every character that is not a letter, digit,
    space, hyphen or underscore removed; each space a hyphen."""
    text = heading.strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors(text: str) -> List[str]:
    """The anchors of a Markdown file's headings, duplicates numbered -1, -2 as GitHub does."""
    seen: Dict[str, int] = {}
    out = []
    for _, line in _prose_lines(text):
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(_heading_text(m.group(2)))
        if base in seen:
            seen[base] += 1
            out.append(f"{base}-{seen[base]}")
        else:
            seen[base] = 0
            out.append(base)
    return out


def links(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, target) of every Markdown link outside code."""
    for number, line in _prose_lines(text):
        for m in _LINK.finditer(_INLINE_CODE.sub("", line)):
            yield number, m.group(1)


def broken_links(source: Path) -> List[str]:
    problems = []
    for number, target in links(source.read_text(encoding="utf-8")):
        if not target or _SCHEME.match(target):
            continue  # external (http, https, mailto): not fetched
        path_part, _, anchor = target.partition("#")
        where = f"{source.relative_to(paths.ROOT)}:{number}: ({target})"
        dest = (source.parent / path_part).resolve() if path_part else source
        if not dest.exists():
            problems.append(f"{where}: no file {dest}")
            continue
        if anchor:
            if dest.is_dir() or dest.suffix.lower() != ".md":
                problems.append(f"{where}: an anchor into a file that is not Markdown")
            elif anchor not in anchors(dest.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading with anchor #{anchor} in {dest.name}")
    return problems


@pytest.mark.parametrize("source", [README, *DOCS], ids=lambda p: str(p.relative_to(paths.ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(source):
    problems = broken_links(source)
    assert not problems, "\n".join(problems)


def test_the_readme_stays_a_front_door():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_there_are_docs_and_the_readme_links_to_each():
    readme = README.read_text(encoding="utf-8")
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(readme)}
    assert DOCS, "docs/ has no Markdown files"
    unlinked = [d.name for d in DOCS if d.resolve() not in linked]
    assert not unlinked, f"README.md does not link to docs/ {unlinked}: add them to 'Where to read on'"


# The checker itself, on small texts: it must be able to fail.

def test_slugs_follow_githubs_rules():
    assert slug("Performance and scale") == "performance-and-scale"
    assert slug("The sentence encoder's cost (triage and answers by meaning)") == \
        "the-sentence-encoders-cost-triage-and-answers-by-meaning"
    assert slug(_heading_text("Answers by meaning (`bot/knowledge/component.py`)")) == \
        "answers-by-meaning-botknowledgecomponentpy"
    assert slug(_heading_text("Triage (`triage/red_flags.yml`)")) == "triage-triagered_flagsyml"
    assert slug("Round 2: before -> after") == "round-2-before---after"


def test_duplicate_headings_are_numbered_and_code_blocks_hold_no_headings():
    text = "# Notes\n## Round\n```\n# not a heading\n[x](missing.md)\n```\n## Round\n### Round\n"
    assert anchors(text) == ["notes", "round", "round-1", "round-2"]
    assert list(links(text)) == []


def test_a_missing_file_or_heading_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n## Round 2\n")
    source = tmp_path / "README.md"
    source.write_text(
        "[ok](docs/a.md#round-2) [site](https://example.org/x#y) `[code](nowhere.md)`\n"
        "[gone](docs/b.md) [bad anchor](docs/a.md#round-3) [self](#a-heading)\n"
    )
    problems = broken_links(source)
    assert len(problems) == 3, problems
    assert "docs/b.md" in problems[0]
    assert "#round-3" in problems[1]
    assert "#a-heading" in problems[2]
