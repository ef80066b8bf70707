"""Rasa's own checks: the training data validates cleanly, and the test stories pass."""
import subprocess
import sys

import pytest

from bot.config import paths
from bot.serve.processes import project_env

pytestmark = pytest.mark.slow


def rasa(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "bot.serve.rasa_cli", *args], cwd=paths.ROOT, env=project_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_rasa_data_validate_is_clean():
    result = rasa("data", "validate", "--domain", "domain", "--data", "data", "--config", "config.yml",
                  "--fail-on-warnings")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_conversation_stories_pass(tmp_path):
    from bot.model import verified_model

    result = rasa("test", "core", "--model", str(verified_model()), "--stories", "tests/stories",
                  "--fail-on-prediction-errors", "--out", str(tmp_path / "results"))
    failed = (tmp_path / "results" / "failed_test_stories.yml")
    detail = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, detail[-4000:] + result.stdout[-2000:] + result.stderr[-2000:]
