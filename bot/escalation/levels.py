"""Triage levels, ordered from least to most serious."""
LEVELS = ("none", "routine", "urgent", "emergency")
ESCALATING_LEVELS = ("urgent", "emergency")
REASONS = ("question", "human_request", "symptoms")  # least to most pressing for staff


def rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0


def more_serious(a: str, b: str) -> str:
    return a if rank(a) >= rank(b) else b


def more_pressing_reason(a: str, b: str) -> str:
    return a if REASONS.index(a) >= REASONS.index(b) else b
