"""Split a message into clauses, with their character spans.

"Had the jabs on Monday, all fine, but since last night my lips are swelling and I can't
swallow" holds three reports; compared as one text with a red-flag description, the mild
start dilutes the swelling. Each clause is compared on its own, and a finding keeps the
clause as its evidence span for staff.

Splits at sentence ends, semicolons, dashes and line breaks, and before a conjunction that
starts a new statement ("but", "and now", "so", "and", "also"). Pieces of fewer than
`MIN_WORDS` words are joined to the clause before them ("red, hot" stays one clause).
"""
from __future__ import annotations

import re
from typing import List, Tuple

MIN_WORDS = 3
MAX_CLAUSES = 12

_HARD = re.compile(r"[.!?;\n]+|\s[-–—]+\s|\s*\.\.\.+\s*")
# "so" only after a comma: "so bad I can't sleep" is one clause, ", so I rested" another.
_SOFT = re.compile(r",?\s+(?=(?:but|and now|and then|and also|and|also|though|although|plus|while|because|cos|as well as)\s)"
                   r"|,\s+", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9']+")


def _pieces(text: str, start: int, end: int, pattern: re.Pattern) -> List[Tuple[int, int]]:
    spans, pos = [], start
    for m in pattern.finditer(text, start, end):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return spans


def _trim(text: str, a: int, b: int) -> Tuple[int, int]:
    while a < b and not text[a].isalnum():
        a += 1
    while b > a and not (text[b - 1].isalnum() or text[b - 1] in "?'"):
        b -= 1
    return a, b


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def split_clauses(text: str) -> List[Tuple[int, int]]:
    """Character spans of the message's clauses, in order; at most MAX_CLAUSES (the rest of a
    very long message is kept in the last one)."""
    out: List[Tuple[int, int]] = []
    for a, b in _pieces(text, 0, len(text), _HARD):
        merged: List[List[int]] = []
        for c, d in _pieces(text, a, b, _SOFT):
            c, d = _trim(text, c, d)
            if c >= d:
                continue
            if merged and (_words(text[c:d]) < MIN_WORDS or _words(text[merged[-1][0]:merged[-1][1]]) < MIN_WORDS):
                merged[-1][1] = d
            else:
                merged.append([c, d])
        out += [(c, d) for c, d in merged]
    if len(out) > MAX_CLAUSES:
        out = out[: MAX_CLAUSES - 1] + [(out[MAX_CLAUSES - 1][0], out[-1][1])]
    return out
