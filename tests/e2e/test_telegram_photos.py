"""Photos through the live Telegram webhook: limited per sender and capped per escalation.

A Rasa server of its own (the photo path needs no action server), started with a burst of 4
that refills at one photo per 1,000 minutes, so what is refused never depends on how fast the
test runs; MAX_PHOTOS_PER_ESCALATION=2 shows the setting is honoured."""
import subprocess
import sys
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from bot.config import paths
from bot.config.clinic import load_clinic
from bot.escalation.store import EscalationStore
from bot.model import verified_model
from bot.serve.processes import free_port, project_env, stop, wait_http
from bot.storage.db import dispose_all, transaction, upgrade
from bot.storage.models import EscalationAttachment
from tests.e2e.conftest import TELEGRAM_SECRET, TELEGRAM_TOKEN
from tests.e2e.telegram_helpers import message, post_update, texts_to
from tests.fakes.telegram_api import FakeTelegramAPI

pytestmark = pytest.mark.slow
BURST, CAP = 4, 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("telegram-photos")
    api = FakeTelegramAPI(TELEGRAM_TOKEN)
    db = f"sqlite:///{work / 'photos.db'}"
    upgrade(db)
    port = free_port()
    env = project_env(DATABASE_URL=db, SANIC_HOST="127.0.0.1", TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
                      TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET, TELEGRAM_API_BASE_URL=api.base_url,
                      TELEGRAM_API_BASE_FILE_URL=api.base_file_url,
                      RATE_LIMIT_BURST=str(BURST), RATE_LIMIT_PER_MINUTE="0.001", MAX_PHOTOS_PER_ESCALATION=str(CAP),
                      ACTION_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}/webhook",
                      WEBCHAT_SECRET="photos-webchat-secret-0123456789abcdef",
                      SPOOL_DIR=str(work / "spool"), LOG_DIR=str(work / "logs"),
                      CONVERSATION_LOCK_FILE=str(work / "locks" / "conversations.lock"))
    log = work / "rasa.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.serve.rasa_cli", "run", "--model", str(verified_model()),
             "--endpoints", "endpoints.yml", "--credentials", "credentials.yml", "-i", "127.0.0.1", "-p", str(port)],
            cwd=paths.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/webhooks/telegram/", 300, proc)
        yield SimpleNamespace(telegram_webhook=f"http://127.0.0.1:{port}/webhooks/telegram/webhook",
                              telegram=api, database_url=db, log=log)
    finally:
        stop(proc)
        api.close()
        dispose_all(db)


def photo(server, chat, file_id):
    server.telegram.files[file_id] = b"\xff\xd8" + file_id.encode()
    sizes = [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 10, "height": 10, "file_size": 11}]
    return post_update(server, message(chat, photo=sizes))


def kept(server, escalation_id):
    with transaction(server.database_url) as s:
        return s.scalar(select(func.count()).select_from(EscalationAttachment)
                        .where(EscalationAttachment.escalation_id == escalation_id))


def open_escalation(server, chat):
    return EscalationStore(server.database_url).raise_or_update(
        conversation_id=str(chat), channel="telegram", sender_id=str(chat), level="urgent", reason="symptoms",
        trigger_message="there's pus coming out of the injection points").escalation_id


def test_photos_are_rate_limited_per_sender_and_capped_per_escalation(server):
    flooder, other = 8101, 8102
    flooders_escalation, others_escalation = open_escalation(server, flooder), open_escalation(server, other)

    answers = [photo(server, flooder, f"flood-{i}") for i in range(8)]
    assert answers == [(200, {"status": "done"})] * 8
    assert photo(server, other, "other-0") == (200, {"status": "done"})

    assert kept(server, flooders_escalation) == CAP
    assert kept(server, others_escalation) == 1  # the flooder's limits are the flooder's own
    fetched = [p["file_id"] for p in server.telegram.sent("getFile")]
    assert fetched == ["flood-0", "flood-1", "other-0"]  # a refused photo is never downloaded
    # Photos 1-2 kept; 3 over the cap (told), 4 over the cap (already told); 5 over the burst
    # (told), 6-8 over the burst (already told).
    texts = texts_to(server, flooder)
    assert len(texts) == 4, texts
    assert all("added the photo to your report" in t for t in texts[:2])
    assert "as many photos" in texts[2] and "faster than I can keep them" in texts[3]
    assert all(load_clinic().contact in t for t in texts[2:])
    assert texts_to(server, other) == [texts[0]]
    assert "Traceback" not in server.log.read_text(errors="replace")
