"""Shared fixtures: the knowledge base, and the real running assistant for end-to-end tests."""
import os
import uuid

import pytest

from bot.config import paths

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["RASA_TELEMETRY_ENABLED"] = "false"

# The tests run Rasa in this process (the assistant fixture, Rasa's tracker store), so they
# install our changes to it as the Rasa server does: safety always, speed unless
# CLINIC_SPEEDUPS=off (scripts/test.sh runs the conversation tests both ways).
from bot import rasa_ext  # noqa: E402

rasa_ext.install_for_rasa()


@pytest.fixture(scope="session")
def kb():
    from bot.knowledge import load_knowledge_base

    return load_knowledge_base()


@pytest.fixture(scope="session")
def assistant(tmp_path_factory):
    """The trained model with a real action server and a real SQLite file (one per session)."""
    from bot.eval.driver import running_assistant
    from bot.config.logging_setup import configure_logging
    from bot.model import verified_model

    configure_logging("WARNING")
    with running_assistant(verified_model(), tmp_path_factory.mktemp("assistant")) as driver:
        yield driver


@pytest.fixture
def sender():
    return f"test-{uuid.uuid4().hex[:12]}"


# The tier of a test is its directory (pytest.ini describes each). e2e and faults run the
# trained assistant, so all of them are slow.
TIERS = {"unit": "unit", "triage": "unit", "integration": "integration", "e2e": "e2e", "faults": "faults",
         "console": "console", "fuzz": "fuzz"}
SLOW_TIERS = {"e2e", "faults"}
# What a test needs, told by the fixtures it uses (directly or through other fixtures).
SLOW_FIXTURES = {"assistant", "live", "stack", "rasa_following"}
POSTGRES_FIXTURES = {"postgres_server", "stack"}
SERVER_FIXTURES = POSTGRES_FIXTURES | {"redis_server", "redis_installed", "nginx_installed"}
BROWSER_FIXTURES = {"chromium"}


def pytest_collection_modifyitems(config, items):
    tests_dir = paths.ROOT / "tests"
    for item in items:
        parts = item.path.relative_to(tests_dir).parts
        tier = TIERS.get(parts[0]) if len(parts) > 1 else None
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid}: tests/{parts[0]}/ has no tier (tests/conftest.py TIERS)")
        fixtures = set(item.fixturenames)
        # The integration tests' db_url fixture asks for PostgreSQL by its parameter.
        on_postgres = getattr(item, "callspec", None) is not None and item.callspec.params.get("db_url") == "postgresql"
        wanted = {tier}
        wanted |= {"slow"} if tier in SLOW_TIERS or fixtures & SLOW_FIXTURES else set()
        wanted |= {"postgres", "servers"} if on_postgres or fixtures & POSTGRES_FIXTURES else set()
        wanted |= {"servers"} if fixtures & SERVER_FIXTURES else set()
        wanted |= {"browser", "slow"} if fixtures & BROWSER_FIXTURES else set()
        for name in sorted(wanted - {m.name for m in item.iter_markers()}):
            item.add_marker(name)
