"""Days since treatment, read from what patients write."""
import pytest

from bot.triage.timing import days_since_treatment


@pytest.mark.parametrize("text, days", [
    ("had it done 2 days ago", 2),
    ("treatment was three days ago", 3),
    ("it's day 4 now", 4),
    ("It's been 9 days and it's still swollen", 9),
    ("since my session yesterday", 1),
    ("treatment was this morning", 0),
    ("two weeks later it's still red", 14),
    ("still swollen after 10 days", 10),
    ("been a week and it's still puffy", 7),
    ("how soon will I see results", None),
    ("I'm 41 and have had thin hair for years", None),
])
def test_days(text, days):
    assert days_since_treatment(text) == days
