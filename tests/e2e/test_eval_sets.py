"""The regression gate: the dev set and every regression set through the whole assistant.

A blind set becomes a regression set once its failures have been read (tests/eval/sets.yml);
from then on no emergency may be missed, no urgent report left unescalated, at most 2% of
other turns escalated, and no question the article does not answer served an entry. The
newest blind set is reported by `make eval`, not gated here.
"""
import pytest

from bot.eval.figures import figures
from bot.eval.sets import gate_failures, manifest, run_sets
from bot.model import verified_model

GATED = [s for s in manifest() if s[2] in ("dev", "regression")]


@pytest.fixture(scope="module")
def reports():
    return run_sets(GATED, verified_model())


def test_there_is_a_regression_set_for_triage_and_for_answers():
    names = [name for name, _, role in GATED if role == "regression"]
    assert any("triage" in n for n in names) and any("answers" in n for n in names)


@pytest.mark.parametrize("name", [s[0] for s in GATED])
def test_set_passes_the_gate(reports, name):
    fig = figures(reports[name])
    assert fig["turns"] > 0
    assert gate_failures(name, fig) == [], fig


def test_dev_answer_accuracy_is_not_lower_than_before(reports):
    assert figures(reports["dev"])["answer_accuracy"] >= 0.96
