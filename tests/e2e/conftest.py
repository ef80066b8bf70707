"""A live assistant started the way `make run` starts it (bot.serve.run), with the Telegram
channel pointed at the stand-in Bot API on loopback. Shared by the channel and browser tests."""
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from bot.config import paths
from bot.config.clinic import load_clinic
from bot.serve.processes import free_port, project_env
from tests.fakes.telegram_api import FakeTelegramAPI

TELEGRAM_TOKEN = "424242:TEST-bot-token"
TELEGRAM_SECRET = "webhook-secret-for-tests-0123456789"
# The live assistant's clinic: open all day, every day, so whether the urgent reply promises
# a call back depends only on the patient (channel, phone number), not on when the tests run.
CLINIC = """\
timezone: UTC
hours: {mon: "00:00-24:00", tue: "00:00-24:00", wed: "00:00-24:00", thu: "00:00-24:00",
        fri: "00:00-24:00", sat: "00:00-24:00", sun: "00:00-24:00"}
urgent_callback_minutes: 30
safety_net_minutes: 30
contact: "+1 555 0100"
out_of_hours_contact: "+1 555 0199"
emergency_number: "911"
"""


@dataclass
class Live:
    rasa_url: str
    console_url: str
    log_dir: object
    api_token: str
    database_url: str
    telegram: FakeTelegramAPI
    proc: subprocess.Popen
    clinic: object = None  # bot.config.clinic.Clinic: the facts the live assistant quotes

    @property
    def telegram_webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/telegram/webhook"

    @property
    def chat_page(self) -> str:
        return f"{self.rasa_url}/webhooks/webchat/"


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    work = tmp_path_factory.mktemp("live")
    telegram = FakeTelegramAPI(TELEGRAM_TOKEN)
    rasa_port, action_port, console_port = free_port(), free_port(), free_port()
    token = "live-api-token"
    db = f"sqlite:///{work / 'live.db'}"
    clinic_file = work / "clinic.yml"
    clinic_file.write_text(CLINIC)
    env = project_env(RASA_PORT=str(rasa_port), ACTION_PORT=str(action_port), DATABASE_URL=db,
                      RASA_API_TOKEN=token, TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
                      TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET, TELEGRAM_API_BASE_URL=telegram.base_url,
                      TELEGRAM_API_BASE_FILE_URL=telegram.base_file_url,
                      WEBCHAT_SECRET="webchat-secret-for-tests-0123456789abcdef",
                      LOG_DIR=str(work / "logs"), CONSOLE_PORT=str(console_port), CLINIC_FILE=str(clinic_file),
                      # Tests that publish new questions must not start minutes of training beside
                      # the others; tests/integration/test_knowledge_retrain.py covers the retrain.
                      KNOWLEDGE_RETRAIN="off")
    for name in ("CLINIC_CONTACT", "CLINIC_OUT_OF_HOURS_CONTACT", "CLINIC_EMERGENCY_NUMBER"):
        env.pop(name, None)  # the file's lines, whatever the caller's environment says
    proc = subprocess.Popen([sys.executable, "-m", "bot.serve.run"], cwd=paths.ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, seen = time.monotonic() + 300, []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if "Open the chat at" in line or (not line and proc.poll() is not None):
            break
    if proc.poll() is not None or not any("Open the chat at" in s for s in seen):
        telegram.close()
        raise RuntimeError("assistant did not start:\n" + "".join(seen))
    yield Live(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{console_port}", work / "logs", token, db,
               telegram, proc, load_clinic(clinic_file))
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    telegram.close()


# Debian's Chromium, driven by Playwright (never a browser download). Module scope on purpose:
# Playwright's sync API keeps an event loop running in the main thread while it is open,
# which later asyncio-based tests cannot share.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def chromium():
    path = subprocess.run([str(paths.ROOT / "scripts" / "browser.sh")], check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=FLAGS)
        yield browser
        browser.close()


