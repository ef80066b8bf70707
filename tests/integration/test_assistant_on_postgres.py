"""The whole assistant on PostgreSQL: Rasa's tracker store and our tables in one database."""
import pytest
from sqlalchemy import create_engine, select, text

from bot.storage.db import transaction
from bot.storage.models import Escalation
from tests.integration.conftest import fresh_postgres_database

pytestmark = pytest.mark.slow


def test_escalation_form_and_transcript_in_postgres(postgres_server, tmp_path):
    from bot.eval.driver import running_assistant
    from bot.model import verified_model

    url = fresh_postgres_database(postgres_server)
    with running_assistant(verified_model(), tmp_path, database_url=url) as assistant:
        out = assistant.say("pg-1", "my wife had her injections yesterday and she's burning up")
        assert out.triage == "urgent" and out.escalated
        assistant.say("pg-1", "Sofia Marin")
        assistant.say("pg-1", "sofia@example.com")
        with transaction(url) as s:
            esc = s.scalars(select(Escalation)).one()
        assert (esc.contact_name, esc.contact, esc.level) == ("Sofia Marin", "sofia@example.com", "urgent")
        engine = create_engine(url)
        with engine.connect() as conn:
            texts = [r[0] for r in conn.execute(text(
                "SELECT data FROM events WHERE sender_id = 'pg-1' AND type_name = 'user' ORDER BY id"))]
        engine.dispose()
        assert len(texts) == 3 and "burning up" in texts[0]
