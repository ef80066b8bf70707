"""`make soak` itself works: a short run gives a complete, passing account (the real
campaign runs 10 minutes; its figures are in docs/reliability.md "Soak")."""
import json

import pytest

from bot.bench import soak

pytestmark = pytest.mark.slow


def test_a_short_soak_accounts_for_everything(tmp_path):
    assert soak.main(["--seconds", "20", "--conversations", "4", "--out", str(tmp_path / "soak")]) == 0
    result = json.loads((tmp_path / "soak.json").read_text())
    assert result["messages"] > 20 and result["errors"] == 0 and result["silent"] == 0
    e = result["escalations"]
    assert e["warning_sign_conversations"] >= 1 and e["escalations"] == e["warning_sign_conversations"]
    assert set(result["memory"]) == {"rasa", "actions", "worker", "console"}
    assert "| memory flat / all checks passed | True / True |" in (tmp_path / "soak.md").read_text()
