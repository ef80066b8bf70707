"""Secrets come only from the environment (or, in development, a private file outside git),
production refuses to start without a real one; models load only from our directory and only
if they match the hash recorded at training."""
import subprocess
import sys

import pytest

from bot.config import paths
from bot.model import ModelIntegrityError, record_hash, verified_model
from bot.serve.processes import project_env
from bot.config.secrets import MIN_LENGTH, SecretError, get_secret


@pytest.mark.parametrize("value", ["", "short-secret"])
def test_production_refuses_a_missing_or_short_secret(monkeypatch, value):
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.setenv("WEBCHAT_SECRET", value)
    with pytest.raises(SecretError, match="WEBCHAT_SECRET"):
        get_secret("WEBCHAT_SECRET")
    monkeypatch.setenv("WEBCHAT_SECRET", "x" * MIN_LENGTH)
    assert get_secret("WEBCHAT_SECRET") == "x" * MIN_LENGTH


def test_production_refuses_a_short_optional_secret_but_runs_without_one(monkeypatch):
    """A secret that turns an optional part on: absent is fine, short is refused like any other
    (the deployment's Rasa command checks the Telegram channel's this way: bot/serve/rasa_server.py)."""
    from bot.config.secrets import optional_secret

    name = "TELEGRAM_WEBHOOK_SECRET"
    monkeypatch.setenv("CLINIC_ENV", "production")
    monkeypatch.delenv(name, raising=False)
    assert optional_secret(name) == ""
    monkeypatch.setenv(name, "short-secret")
    with pytest.raises(SecretError, match=name):
        optional_secret(name)
    monkeypatch.setenv(name, "x" * MIN_LENGTH)
    assert optional_secret(name) == "x" * MIN_LENGTH
    monkeypatch.setenv("CLINIC_ENV", "development")
    monkeypatch.setenv(name, "short-secret")
    assert optional_secret(name) == "short-secret"


def test_the_rasa_server_refuses_to_start_in_production_without_the_secret():
    env = project_env(CLINIC_ENV="production", WEBCHAT_SECRET="")
    code = ("import os; os.environ.pop('WEBCHAT_SECRET', None)\n"
            "from bot.channels.webchat import WebChatInput\nWebChatInput.from_credentials({})")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=paths.ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and "refusing to start in production" in out.stderr


def test_no_secret_is_written_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=paths.ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.startswith("var/")]
    assert not any("secrets" in f.split("/") for f in tracked)


def test_a_model_from_elsewhere_or_changed_after_training_is_refused(tmp_path):
    outside = tmp_path / "model.tar.gz"
    outside.write_bytes(b"not ours")
    with pytest.raises(ModelIntegrityError, match="outside"):
        verified_model(outside)

    model = paths.MODELS_DIR / "integrity-test.tar.gz"
    try:
        model.write_bytes(b"a model archive")
        with pytest.raises(ModelIntegrityError, match="recorded hash"):
            verified_model(model)  # never trained here: no hash
        record_hash(model)
        assert verified_model(model) == model.resolve()
        model.write_bytes(b"a model archive, swapped")  # tampered after training
        with pytest.raises(ModelIntegrityError, match="does not match"):
            verified_model(model)
    finally:
        model.unlink(missing_ok=True)
        model.with_name(model.name + ".sha256").unlink(missing_ok=True)
        for p in paths.MODELS_DIR.glob("integrity-test*"):
            p.unlink()
