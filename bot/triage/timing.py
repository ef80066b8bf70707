"""Read how long ago the treatment was from a message ("2 days ago", "yesterday", "day 4")."""
from __future__ import annotations

import re
from typing import Optional

_NUMBERS = {"one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
            "thirteen": 13, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30,
            "a couple of": 2, "a couple": 2, "couple of": 2, "a few": 3, "few": 3, "several": 4}
_N = r"(\d{1,3}|" + "|".join(sorted((re.escape(k) for k in _NUMBERS), key=len, reverse=True)) + r")"

_PATTERNS = [
    (re.compile(rf"\b{_N} (day|days)( ago| since| after| post| now| out| later)\b"), 1),
    (re.compile(rf"\b(been|after|for) (the )?(last |past )?{_N} (day|days)\b"), 1),
    (re.compile(rf"\b{_N} (week|weeks)( ago| since| after| post| now| out| later)\b"), 7),
    (re.compile(rf"\b(been|after|for) (the )?(last |past )?{_N} (week|weeks)\b"), 7),
    (re.compile(r"\bday (\d{1,2})\b"), 1),
    (re.compile(r"\b(\d{1,2})(st|nd|rd|th) day\b"), 1),
]
_FIXED = [
    (re.compile(r"\b(yesterday|last night)\b"), 1),
    (re.compile(r"\b(last week|a week ago)\b"), 7),
    (re.compile(r"\b(over|more than|longer than) (a|one) week\b"), 8),
    (re.compile(r"\b(today|this morning|this afternoon|this evening|tonight|an hour ago|"
                r"hours ago|an hour|just had|earlier today)\b"), 0),
]


def _number(token: str) -> Optional[int]:
    if token.isdigit():
        return int(token)
    return _NUMBERS.get(token)


def days_since_treatment(text: str) -> Optional[int]:
    """The largest elapsed time mentioned (the treatment is the earliest event a patient
    dates), in whole days; None when the message gives no timing."""
    text = (text or "").lower()
    found = []
    for pattern, factor in _PATTERNS:
        for m in pattern.finditer(text):
            groups = [g for g in m.groups() if g]
            value = next((_number(g) for g in groups if _number(g) is not None), None)
            if value is not None and value <= 365:
                found.append(value * factor)
    for pattern, value in _FIXED:
        if pattern.search(text):
            found.append(value)
    return max(found) if found else None
