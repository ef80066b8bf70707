"""Shared fixtures: the knowledge base, and the real running assistant for end-to-end tests."""
import os
import uuid

import pytest

from bot import paths

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["RASA_TELEMETRY_ENABLED"] = "false"


@pytest.fixture(scope="session")
def kb():
    from bot.knowledge import load_knowledge_base

    return load_knowledge_base()


@pytest.fixture(scope="session")
def assistant(tmp_path_factory):
    """The trained model with a real action server and a real SQLite file (one per session)."""
    from bot.eval.driver import running_assistant
    from bot.logging_setup import configure_logging
    from bot.model import verified_model

    configure_logging("WARNING")
    with running_assistant(verified_model(), tmp_path_factory.mktemp("assistant")) as driver:
        yield driver


@pytest.fixture
def sender():
    return f"test-{uuid.uuid4().hex[:12]}"
