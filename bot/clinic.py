"""The clinic's hours and promises (clinic.yml): the urgent reply may only promise what the
clinic can keep, so whether a nurse calls back soon depends on the time of day."""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import yaml

from bot import paths

CLINIC_FILE = paths.ROOT / "clinic.yml"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
KEYS = ("timezone", "hours", "urgent_callback_minutes", "safety_net_minutes", "contact",
        "out_of_hours_contact", "emergency_number")


@dataclass(frozen=True)
class Clinic:
    timezone: str
    hours: Dict[str, Tuple[dt.time, dt.time]]
    urgent_callback_minutes: int
    safety_net_minutes: float
    contact: str
    out_of_hours_contact: str
    emergency_number: str

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


def load_clinic(path: Path = CLINIC_FILE) -> Clinic:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for key in data:
        if key not in KEYS:
            raise ValueError(f"{path}: unknown key '{key}'; allowed: {', '.join(KEYS)}")
    hours = {}
    for day, span in (data.get("hours") or {}).items():
        m = _SPAN.match(str(span))
        if day not in DAYS or not m:
            raise ValueError(f"{path}: hours: '{day}: {span}' must be a weekday (mon..sun) and HH:MM-HH:MM")
        a, b = dt.time(int(m[1]), int(m[2])), dt.time(int(m[3]), int(m[4]))
        if not a < b:
            raise ValueError(f"{path}: hours: '{day}' closes before it opens")
        hours[day] = (a, b)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(data.get("timezone", "UTC"))
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path}: timezone: unknown time zone {data.get('timezone')!r}") from exc
    for key in ("urgent_callback_minutes", "safety_net_minutes"):
        if not isinstance(data.get(key), int) or data[key] <= 0:
            raise ValueError(f"{path}: {key} must be a positive whole number of minutes")
    return Clinic(
        timezone=data.get("timezone", "UTC"), hours=hours,
        urgent_callback_minutes=data["urgent_callback_minutes"],
        safety_net_minutes=float(os.environ.get("CLINIC_SAFETY_NET_MINUTES") or data["safety_net_minutes"]),
        contact=os.environ.get("CLINIC_CONTACT") or data.get("contact") or "the clinic",
        out_of_hours_contact=os.environ.get("CLINIC_OUT_OF_HOURS_CONTACT")
        or data.get("out_of_hours_contact") or "the clinic's out-of-hours line",
        emergency_number=os.environ.get("CLINIC_EMERGENCY_NUMBER")
        or data.get("emergency_number") or "911 or your local emergency number",
    )
