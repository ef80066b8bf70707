"""Shared pieces of the fuzz tests: how many examples to run, and text that looks like what
patients (and attackers) actually send.

`make test` runs a small, fixed set of examples (derandomized, so a red build is
reproducible). A campaign sets FUZZ_EXAMPLES and explores new random inputs on every run:

    FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -q tests/fuzz
    FUZZ_EXAMPLES=500  .venv/bin/python -m pytest -q tests/e2e/test_fuzz_http.py
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CAMPAIGN = bool(os.environ.get("FUZZ_EXAMPLES"))


def fuzz_settings(default_examples: int) -> settings:
    return settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES") or default_examples),
                    deadline=None, derandomize=not CAMPAIGN, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# Every code point, lone surrogates included (Hypothesis leaves category Cs out by default,
# and a JSON "\ud800" escape puts one into a Python str on every channel).
any_char = st.characters(codec=None, exclude_categories=())

# Fragments that drive the interesting paths: sign words and their typos, negations,
# timings, commands, injections, scripts that are not Latin, invisible characters.
FRAGMENTS = [
    "fever", "fevr", "pus", "yellow stuff", "swollen", "swelling", "bleeding", "can't breathe",
    "chest pain", "itchy", "redness", "hot and hard", "no", "not", "what if", "my mum", "?",
    "yesterday", "2 days ago", "day 9", "still", "worse", "injections", "treatment", "after",
    "next week", "/", "/start", '/affirm{"x": 1}', "'; DROP TABLE events; --",
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "\x00", "\x1b[31m", "\ud800",
    "\udfff", "\u200b", "\u202e", "\ufeff", "ﬁ", "ﬃ", "①", "İ", "ß", "ǅ", "e\u0301", "😀", "👩‍⚕️",
    "مرحبا", "حمى", "שלום", "חום", "发烧", "Привет", "\n", "\t", "  ", ".", "!", "-",
]

fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(any_char, max_size=12))
message_text = st.one_of(
    st.text(any_char, max_size=200),
    st.lists(fragment, max_size=12).map(" ".join),
    st.lists(fragment, max_size=12).map("".join),
)

# Any JSON document Python can write, NaN and huge numbers included.
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(any_char, max_size=30),
                        message_text)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(any_char, max_size=10), inner, max_size=4)),
    max_leaves=12)
# Bodies that are not JSON at all, and the content types clients get wrong.
raw_body = st.one_of(st.binary(max_size=300), st.text(any_char, max_size=300).map(
    lambda s: s.encode("utf-8", "surrogatepass")))
content_type = st.sampled_from(["application/json", "application/json; charset=latin-1", "text/plain",
                                "application/x-www-form-urlencoded", "multipart/form-data",
                                "multipart/form-data; boundary=xyz", "application/xml", ""])
