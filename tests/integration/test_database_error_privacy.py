"""A database error must not carry patient details into a log, and must not lose the update.

On PostgreSQL a value longer than its column raises a DataError whose text, by SQLAlchemy's
default, ends with the statement's parameters: the patient's name and contact. rasa_sdk logs
that text. Every engine (ours and Rasa's tracker store) hides parameters, and the details
form refuses what its columns cannot hold, so the update is never lost to it."""
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select

from bot.escalation.store import EscalationStore
from bot.storage.db import transaction, upgrade
from bot.storage.models import Escalation
from tests.integration.conftest import fresh_postgres_database

pytestmark = pytest.mark.slow

NAME = "Zebedee Quillfeather"
LONG_EMAIL = "zeb.quillfeather@" + "marmalade" * 27 + ".example.org"  # 272 characters


def test_our_engine_hides_parameters_of_a_failed_statement(postgres_server):
    url = fresh_postgres_database(postgres_server)
    upgrade(url)
    store = EscalationStore(url)
    esc = store.raise_or_update("pg-privacy", "webchat", "pg-privacy", "urgent", "symptoms", "a fever")
    with pytest.raises(sa.exc.DBAPIError) as failed:
        store.add_details(esc.escalation_id, contact_name=NAME, contact=LONG_EMAIL)
    assert "quillfeather" not in str(failed.value).lower()
    assert "hidden" in str(failed.value)  # SQLAlchemy's marker: the error is still explained


def test_rasa_tracker_store_engine_hides_parameters(postgres_server):
    from bot import rasa_ext

    rasa_ext.install_for_rasa()  # our engine settings for Rasa's store

    url = sa.engine.make_url(fresh_postgres_database(postgres_server))
    store = SQLTrackerStore(Domain.empty(), host=f"{url.host}:{url.port}", db=url.database,
                            username=url.username, dialect="postgresql")
    tracker = DialogueStateTracker.from_events("x" * 300, [UserUttered(f"I am {NAME}")])
    with pytest.raises(sa.exc.DBAPIError) as failed:
        import asyncio

        asyncio.run(store.save(tracker))
    assert "quillfeather" not in str(failed.value).lower()
    store.engine.dispose()


def test_too_long_contact_is_refused_in_the_form_and_nothing_leaks(postgres_server, tmp_path):
    from bot.eval.driver import running_assistant
    from bot.model import verified_model

    url = fresh_postgres_database(postgres_server)
    with running_assistant(verified_model(), tmp_path, database_url=url) as assistant:
        out = assistant.say("pg-long", "I had my injections yesterday and now I have a fever and spreading redness")
        assert out.triage == "urgent" and out.escalated
        assistant.say("pg-long", NAME)
        refused = assistant.say("pg-long", LONG_EMAIL)
        assert any("too long" in t for t in refused.replies), refused.replies
        assistant.say("pg-long", "+44 7700 900123")
        assistant.say("pg-long", "yesterday")
        with transaction(url) as s:
            esc = s.scalars(select(Escalation).where(Escalation.conversation_id == "pg-long")).one()
        assert (esc.contact_name, esc.contact) == (NAME, "+447700900123")
    log = Path(tmp_path / "action-server.log").read_text(errors="replace").lower()
    assert "quillfeather" not in log and "marmalade" not in log
