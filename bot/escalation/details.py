"""Check the contact details a patient gives after an escalation (name, phone or email,
treatment date). Each parser returns (value, None) or (None, reason shown to the patient)."""
from __future__ import annotations

import datetime as dt
import re
from typing import Optional, Tuple

from bot.triage.timing import days_since_treatment

SKIPPED = "skipped"
_SKIP = re.compile(r"^\s*(skip|pass|next|n/?a|rather not|prefer not( to)?( say)?|no thanks|not now|"
                   r"i'?d rather not|don'?t want to|dont want to|leave it|none)\W*$", re.I)
_STOP = re.compile(r"^\s*(stop|cancel|quit|enough|forget it|no more questions)\W*$", re.I)
# RFC 5321's limit, below the 255 of the column it is stored in.
MAX_EMAIL_CHARS = 254
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[a-z]{2,}$", re.I)
# A phone number as parse_contact keeps it: digits, with an optional leading "+".
_PHONE = re.compile(r"\+?\d{7,15}")
# Channels on which staff can message the patient back (the console's replies reach them there).
MESSAGE_BACK_CHANNELS = frozenset({"telegram"})
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
Result = Tuple[Optional[str], Optional[str]]


def wants_to_skip(text: str) -> bool:
    return bool(_SKIP.match(text or ""))


def wants_to_stop(text: str) -> bool:
    return bool(_STOP.match(text or ""))


def parse_name(text: str) -> Result:
    name = " ".join((text or "").split())
    name = re.sub(r"^(my name is|i am|i'm|im|it's|its|this is)\s+", "", name, flags=re.I).strip(" .!")
    if not name:
        return None, "name_empty"
    if len(name) > 80 or len(name.split()) > 6 or re.search(r"[0-9@?<>{}\[\]\\/]", name):
        return None, "name_invalid"
    return name, None


def parse_contact(text: str) -> Result:
    value = (text or "").strip().strip(".")
    value = re.sub(r"^(my (number|phone|email|e-mail|mobile) is|it's|its|call me on|email me at)\s+", "",
                   value, flags=re.I).strip()
    if _EMAIL.match(value):
        if len(value) > MAX_EMAIL_CHARS:
            return None, "contact_too_long"
        return value.lower(), None
    digits = re.sub(r"[\s\-().]", "", value)
    if _PHONE.fullmatch(digits):
        return digits, None
    return None, "contact_invalid"


def is_phone_number(contact: Optional[str]) -> bool:
    """Whether a kept contact detail (see parse_contact) is a phone number, not an email."""
    return bool(contact) and bool(_PHONE.fullmatch(str(contact)))


def staff_can_reach(channel: str, contact: Optional[str]) -> bool:
    """Whether staff can get in touch with the patient soon: on a channel where they can
    message them back, or by calling a phone number the patient gave. An email address is not
    a way to reach someone within minutes."""
    return channel in MESSAGE_BACK_CHANNELS or is_phone_number(contact)


def parse_treatment_date(text: str, today: Optional[dt.date] = None) -> Result:
    today = today or dt.date.today()
    raw = (text or "").strip().lower()
    date = _absolute_date(raw, today)
    if date is None:
        days = days_since_treatment(raw)
        if days is not None:
            date = today - dt.timedelta(days=days)
    if date is None:
        return None, "date_invalid"
    if date > today:
        return None, "date_future"
    if (today - date).days > 3 * 365:
        return None, "date_too_old"
    return date.isoformat(), None


def _absolute_date(raw: str, today: dt.date) -> Optional[dt.date]:
    m = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", raw)
    if m:
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    m = re.search(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})\b", raw)  # day first, as most of the world
    if m:
        year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
        return _safe_date(year, int(m[2]), int(m[1]))
    m = re.search(r"\b(\d{1,2})(st|nd|rd|th)?( of)? ([a-z]{3,})\b", raw) or None
    month_first = re.search(r"\b([a-z]{3,}) (\d{1,2})(st|nd|rd|th)?\b", raw)
    for day, month in ((m and m[1], m and m[4]), (month_first and month_first[2], month_first and month_first[1])):
        if day and month and month[:3] in _MONTHS:
            date = _safe_date(today.year, _MONTHS[month[:3]], int(day))
            if date and date > today:  # "12 December" said in January means last year
                date = _safe_date(today.year - 1, _MONTHS[month[:3]], int(day))
            if date:
                return date
    return None


def _safe_date(year: int, month: int, day: int) -> Optional[dt.date]:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
