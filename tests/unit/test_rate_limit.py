import pytest

from bot.channels.rate_limit import SenderRateLimiter, limiter


def test_burst_then_refill_and_one_notice_per_flood():
    now = [0.0]
    lim = SenderRateLimiter(per_minute=6, burst=3, clock=lambda: now[0])
    assert [lim.check("a") for _ in range(6)] == ["ok", "ok", "ok", "tell", "drop", "drop"]
    assert lim.check("b") == "ok"  # another sender has its own bucket
    now[0] += 10  # one token back (6 per minute)
    assert lim.check("a") == "ok"
    assert lim.check("a") == "tell"  # a new flood is told again


def test_zero_turns_it_off_and_bad_values_are_refused(monkeypatch):
    assert SenderRateLimiter(per_minute=0, burst=10).check("a") == "ok"
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "lots")
    limiter.cache_clear()
    with pytest.raises(ValueError, match="RATE_LIMIT_PER_MINUTE"):
        limiter()
    limiter.cache_clear()


def test_memory_is_bounded_whatever_the_number_of_senders():
    lim = SenderRateLimiter(per_minute=6, burst=1, max_tracked=100)
    for i in range(5000):
        lim.check(f"sender-{i}")
    assert len(lim._buckets) == 100
    assert lim.check("sender-4999") == "tell"  # recent senders are still limited
