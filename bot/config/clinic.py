"""The clinic's hours and promises (clinic.yml): the urgent reply may only promise what the
clinic can keep, so whether a nurse calls back soon depends on the time of day and on whether
staff have a way to reach the patient.

A value wrapped in angle brackets ("<the clinic's main phone line>") is a placeholder the
clinic has not filled in yet. In development the text inside is used; in production
(CLINIC_ENV=production) loading refuses it, and a missing time zone or contact line, naming
each field and how to set it. Every process that answers patients loads the file as it starts
(`load_at_start`), so a production deployment with placeholders stops there, never at its
first patient.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from bot.config import paths
from bot.config.secrets import production

logger = logging.getLogger(__name__)

CLINIC_FILE = paths.ROOT / "clinic.yml"
# Another clinic file (e.g. mounted into a container); relative to the working directory.
CLINIC_FILE_SETTING = "CLINIC_FILE"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_PLACEHOLDER = re.compile(r"^<(.*)>$", re.S)
KEYS = ("timezone", "hours", "urgent_callback_minutes", "safety_net_minutes", "contact",
        "out_of_hours_contact", "emergency_number")
# The contact lines can come from the environment instead (a deployment's own settings).
OVERRIDES = {"contact": "CLINIC_CONTACT", "out_of_hours_contact": "CLINIC_OUT_OF_HOURS_CONTACT",
             "emergency_number": "CLINIC_EMERGENCY_NUMBER"}
# What development tells patients when a contact line is not in the file at all. Production
# has no fallback for the clinic's own lines (patients would be told to call nobody in
# particular); "911 or your local emergency number" is true anywhere, so it stays.
DEVELOPMENT_DEFAULTS = {"contact": "the clinic", "out_of_hours_contact": "the clinic's out-of-hours line",
                        "emergency_number": "911 or your local emergency number"}
REQUIRED_IN_PRODUCTION = ("timezone", "contact", "out_of_hours_contact")
# What each field is, for the message that asks for it.
MEANING = {
    "timezone": "the clinic's IANA time zone name, e.g. Europe/London or America/New_York "
                "(\"UTC\" is accepted); the opening hours are read in it",
    "contact": "the phone line patients call during opening hours",
    "out_of_hours_contact": "the line patients call when the clinic is closed",
    "emergency_number": "the local emergency number",
}


class ClinicConfigError(ValueError):
    """clinic.yml cannot be used as it is; the message names each field and how to set it."""


@dataclass(frozen=True)
class Clinic:
    timezone: str
    hours: Dict[str, Tuple[dt.time, dt.time]]
    urgent_callback_minutes: int
    safety_net_minutes: float
    contact: str
    out_of_hours_contact: str
    emergency_number: str
    # Fields still holding a <placeholder> (development only: production refuses them).
    placeholders: Tuple[str, ...] = ()

    def is_open(self, now: Optional[dt.datetime] = None) -> bool:
        from zoneinfo import ZoneInfo

        local = (now or dt.datetime.now(dt.timezone.utc)).astimezone(ZoneInfo(self.timezone))
        span = self.hours.get(DAYS[local.weekday()])
        return bool(span) and span[0] <= local.time() < span[1]


def reply_values(clinic: Clinic) -> Dict[str, object]:
    """The clinic's facts that patient-facing texts (bot/replies.yml) fill in."""
    return {"emergency_number": clinic.emergency_number, "clinic_contact": clinic.contact,
            "out_of_hours_contact": clinic.out_of_hours_contact,
            "callback_minutes": clinic.urgent_callback_minutes}


def urgent_reply_key(clinic: Clinic, staff_can_reach: bool, now: Optional[dt.datetime] = None) -> str:
    """Which urgent reply (bot/replies.yml) the patient gets. A nurse getting in touch soon is
    promised only while the clinic is open and when staff have a way to reach this patient;
    otherwise the reply says whom to call now."""
    if not clinic.is_open(now):
        return "triage_urgent_closed"
    return "triage_urgent_open" if staff_can_reach else "triage_urgent_open_call_us"


def details_reply_key(clinic: Clinic, level: Optional[str], phone_given: bool,
                      now: Optional[dt.datetime] = None) -> str:
    """The reply once the details form is done: a phone number given for an urgent report
    while the clinic is open is the call back that the urgent reply offered, so confirm it."""
    if phone_given and level == "urgent" and clinic.is_open(now):
        return "details_saved_call_back"
    return "details_saved"


# ----------------------------------------------------------------------------- loading

def clinic_file() -> Path:
    return Path(os.environ.get(CLINIC_FILE_SETTING) or CLINIC_FILE)


def load_clinic(path: Optional[Path] = None) -> Clinic:
    """clinic.yml with the environment's overrides. Malformed values are refused everywhere;
    in production also placeholders and missing facts, all of them in one message."""
    path = Path(path or clinic_file())
    data = _with_overrides(_read(path))
    if production():
        problems = production_problems(data)
        if problems:
            raise ClinicConfigError(_refusal(path, problems))
    return _parse(_unwrapped(data), placeholder_fields(data), path)


def load_at_start() -> Clinic:
    """Load the clinic's facts as a process that answers patients starts: in production a
    problem stops it here (ClinicConfigError); in development placeholders are fine, with
    one line saying so."""
    clinic = load_clinic()
    if clinic.placeholders:
        logger.warning("%s: placeholders in %s (fine in development; CLINIC_ENV=production refuses "
                       "to start with them)", clinic_file(), ", ".join(clinic.placeholders))
    return clinic


def refuse_to_start_unless_ready() -> None:
    """`load_at_start` for an entry point with no start-up checks of its own (the Rasa
    server, the action server): say why on stderr and exit with code 2."""
    try:
        load_at_start()
    except ClinicConfigError as exc:
        print(f"not starting: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _read(path: Path) -> Dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ClinicConfigError(f"{path}: cannot be read ({exc}); set {CLINIC_FILE_SETTING} to the "
                                f"clinic file, or unset it for {CLINIC_FILE}") from exc
    if not isinstance(data, dict):
        raise ClinicConfigError(f"{path}: expected 'key: value' lines")
    for key in data:
        if key not in KEYS:
            raise ClinicConfigError(f"{path}: unknown key '{key}'; allowed: {', '.join(KEYS)}")
    return data


def _with_overrides(data: Dict[str, Any]) -> Dict[str, Any]:
    # An empty variable counts as unset: compose and Kubernetes pass "" for an unset one.
    given = {key: os.environ[name] for key, name in OVERRIDES.items() if os.environ.get(name)}
    return {**data, **given}


# ------------------------------------------------------------------------ placeholders

def _placeholder_text(value: Any) -> Optional[str]:
    """The text inside a <placeholder>, or None for a real value."""
    m = _PLACEHOLDER.match(value.strip()) if isinstance(value, str) else None
    return m[1].strip() if m else None


def placeholder_fields(data: Dict[str, Any]) -> List[str]:
    """Fields (hours as "hours.mon") still holding a <placeholder>."""
    found = [key for key, value in data.items() if _placeholder_text(value) is not None]
    hours = data.get("hours") if isinstance(data.get("hours"), dict) else {}
    found += [f"hours.{day}" for day, span in hours.items() if _placeholder_text(span) is not None]
    return found


def _unwrapped(data: Dict[str, Any]) -> Dict[str, Any]:
    """The data with each <placeholder> replaced by the text inside (what development uses)."""
    def real(value):
        inner = _placeholder_text(value)
        return value if inner is None else inner

    out = {key: real(value) for key, value in data.items()}
    if isinstance(data.get("hours"), dict):
        out["hours"] = {day: real(span) for day, span in data["hours"].items()}
    return out


# -------------------------------------------------------------------------- production

def production_problems(data: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(field, what is wrong) for each fact production cannot run with."""
    problems = [(field, "not set") for field in REQUIRED_IN_PRODUCTION
                if not str(data.get(field) or "").strip()]
    for field in placeholder_fields(data):
        problems.append((field, f"still the placeholder {_value(data, field)!r}{_source(field)}"))
    zone = data.get("timezone")
    if zone and _placeholder_text(zone) is None and not _valid_timezone(zone):
        problems.append(("timezone", f"{zone!r} is not a time zone name"))
    return problems


def _value(data: Dict[str, Any], field: str) -> Any:
    if field.startswith("hours."):
        return data["hours"][field.split(".", 1)[1]]
    return data[field]


def _source(field: str) -> str:
    # A placeholder from the environment is not fixed by editing the file: say where it is.
    name = OVERRIDES.get(field)
    return f" (from the environment variable {name})" if name and os.environ.get(name) else ""


def _how_to_set(field: str, path: Path) -> str:
    key = field.split(".", 1)[0]
    where = f"'{key}:' in {path}"
    if key in OVERRIDES:
        where += f" or the environment variable {OVERRIDES[key]}"
    meaning = MEANING.get(key)
    return f"set {where}" + (f" to {meaning}" if meaning else "")


def _refusal(path: Path, problems: List[Tuple[str, str]]) -> str:
    lines = [f"  - {field}: {what}; {_how_to_set(field, path)}" for field, what in problems]
    return f"{path} is not ready for production (CLINIC_ENV=production):\n" + "\n".join(lines)


# ------------------------------------------------------------------------------ values

def _valid_timezone(name: Any) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(str(name))
    except Exception:  # noqa: BLE001 - ValueError, ZoneInfoNotFoundError, a path-like name...
        return False
    return True


def _clock(hours: str, minutes: str) -> Optional[dt.time]:
    """HH:MM as a time of day, or None. "24:00" is the end of the day (open all day:
    "00:00-24:00")."""
    if (hours, minutes) == ("24", "00"):
        return dt.time.max
    try:
        return dt.time(int(hours), int(minutes))
    except ValueError:
        return None


def _parse_hours(raw: Any, path: Path) -> Dict[str, Tuple[dt.time, dt.time]]:
    hours = {}
    for day, span in (raw or {}).items():
        m = _SPAN.match(str(span))
        a, b = (_clock(m[1], m[2]), _clock(m[3], m[4])) if m else (None, None)
        if day not in DAYS or a is None or b is None:
            raise ClinicConfigError(f"{path}: hours: '{day}: {span}' must be a weekday (mon..sun) and "
                             "HH:MM-HH:MM (24-hour clock; 24:00 for the end of the day)")
        if not a < b:
            raise ClinicConfigError(f"{path}: hours: '{day}' closes before it opens")
        hours[day] = (a, b)
    return hours


def _parse(data: Dict[str, Any], placeholders: List[str], path: Path) -> Clinic:
    zone = data.get("timezone") or "UTC"  # development only: production requires one
    if not _valid_timezone(zone):
        raise ClinicConfigError(f"{path}: timezone: {zone!r} is not a time zone name; "
                                f"{_how_to_set('timezone', path)}")
    for key in ("urgent_callback_minutes", "safety_net_minutes"):
        if not isinstance(data.get(key), int) or data[key] <= 0:
            raise ClinicConfigError(f"{path}: {key} must be a positive whole number of minutes")
    contacts = {key: str(data.get(key) or DEVELOPMENT_DEFAULTS[key]) for key in DEVELOPMENT_DEFAULTS}
    return Clinic(
        timezone=str(zone), hours=_parse_hours(data.get("hours"), path),
        urgent_callback_minutes=data["urgent_callback_minutes"],
        safety_net_minutes=float(os.environ.get("CLINIC_SAFETY_NET_MINUTES") or data["safety_net_minutes"]),
        placeholders=tuple(placeholders), **contacts,
    )
