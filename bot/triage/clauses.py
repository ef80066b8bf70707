"""Split a message into clauses, with their character spans.

"Had the jabs on Monday, all fine, but since last night my lips are swelling and I can't
swallow" holds three reports; compared as one text with a red-flag description, the mild
start dilutes the swelling. Each clause is compared on its own, and a finding keeps the
clause as its evidence span for staff.

Splits at sentence ends, semicolons, dashes and line breaks, and before a conjunction that
starts a new statement ("but", "and now", "so", "and", "also"). Pieces of fewer than
`MIN_WORDS` words are joined to the clause before them ("red, hot" stays one clause); a short
clause is joined by the one after it too, unless that one starts its own statement with a
subject ("fever 104 and she keeps asking where she is": the fever and the confusion are
compared apart), or is a pleasantry ("ok thanks, and how fast does it work?": the question is
compared without the thanks).
"""
from __future__ import annotations

import re
from typing import List, Tuple

MIN_WORDS = 3
MAX_CLAUSES = 12

# A full stop between digits is a decimal point ("temp 39.4"), not a sentence end.
_HARD = re.compile(r"(?:[!?;\n]|(?<!\d)\.|\.(?!\d))+|\s[-–—]+\s|\s*\.\.\.+\s*")
# "so" only after a comma: "so bad I can't sleep" is one clause, ", so I rested" another.
_SOFT = re.compile(r",?\s+(?=(?:but|and now|and then|and also|and|also|though|although|plus|while|because|cos|as well as)\s)"
                   r"|,\s+", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9']+")
_PLEASANTRY = re.compile(r"^(?:(?:(?:hi|hello|hey|hiya) (?:there|all|everyone|team|folks|guys)|hi|hello|hey|hiya|ok|okay|oh|ah|great|cool|thanks|thank you|thx|ta|cheers|"
                         r"sorry|please|quick question|one more thing|also|right|morning|good (?:morning|afternoon|evening))\W*)+$",
                         re.IGNORECASE)
_OWN_SUBJECT = re.compile(r"^(?:(?:and|but|plus|also|while|though|although|because|cos)\s+)?(?:now\s+)?"
                          r"(?:i|i'm|im|i've|he|he's|she|she's|they|they're|we|my|his|her|their|our)\b",
                          re.IGNORECASE)


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
            before = text[merged[-1][0]:merged[-1][1]] if merged else ""
            short_before = merged and _words(before) < MIN_WORDS and not _PLEASANTRY.match(before)
            if merged and (_words(text[c:d]) < MIN_WORDS or (short_before and not _OWN_SUBJECT.match(text[c:d]))):
                merged[-1][1] = d
            else:
                merged.append([c, d])
        out += [(c, d) for c, d in merged]
    if len(out) > MAX_CLAUSES:
        out = out[: MAX_CLAUSES - 1] + [(out[MAX_CLAUSES - 1][0], out[-1][1])]
    return out
