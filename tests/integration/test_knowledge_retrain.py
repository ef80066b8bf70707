"""A change to the published questions goes live through a background retrain
(bot/knowledge/retrain.py), and the running Rasa server swaps the new model in
(bot/rasa_ext/live/model_swap.py); a retrain that fails leaves the old model serving and says
why. Real training, a real Rasa server process, a real SQLite database."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from bot.config import paths
from bot.knowledge import retrain, store
from bot.model import verified_model
from bot.serve.processes import free_port, project_env, wait_http
from bot.storage.db import upgrade

NEW_QUESTIONS = ["Could I go back to cycling to work the morning after my session?",
                 "Is a slow walk with the dog fine on the evening of the treatment?"]


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'retrain.db'}"
    upgrade(url)
    store.ensure_seeded(url)
    return url


def publish_new_questions(url):
    version = store.add_questions(url, "aftercare_rest", "nurse_ana", NEW_QUESTIONS)
    store.sign(url, version.id, "dr_lee", "clinician")


def test_answer_text_alone_needs_no_retrain(url):
    entry = store.get_entry(url, "dandruff")
    latest = entry.latest
    fields = {"title": latest.title, "questions": list(latest.questions), "answer": latest.answer + " Ask us.",
              "source": list(latest.source), "authored_by": "clinic"}
    version = store.save(url, "dandruff", "nurse_ana", fields, base=latest.number, submit=True)
    store.sign(url, version.id, "dr_lee", "clinician")
    assert retrain.check(url, production=False)[0] == "current"


def test_a_failed_retrain_leaves_the_old_model_serving_and_says_why(url, tmp_path):
    publish_new_questions(url)
    assert retrain.check(url, production=False)[0] == "build"
    broken = tmp_path / "config.yml"
    broken.write_text((paths.ROOT / "config.yml").read_text().replace("name: DIETClassifier",
                                                                        "name: NoSuchClassifier"))
    assert retrain.build(url, production=False, config=broken) == "failed"
    status = retrain.status(url)
    assert status.latest.state == "failed" and "NoSuchClassifier" in status.latest.error
    assert status.live is None
    assert retrain.live_model(url) == verified_model()
    # The same questions are not retried in a loop; the next edit tries again.
    assert retrain.check(url, production=False)[0] == "failed"


@pytest.fixture
def rasa_server(url, tmp_path):
    """The Rasa server as `make run` starts it, following the database's live model."""
    port = free_port()
    # No action server: /status is all this test asks of the Rasa server.
    env = project_env(DATABASE_URL=url, RASA_API_TOKEN="retrain-test-token", MODEL_POLL_SECONDS="1",
                      SANIC_HOST="127.0.0.1", ACTION_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}/webhook")
    log = open(tmp_path / "rasa.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot.serve.rasa_server", "-m", "bot.serve.rasa_cli", "run",
                             "--model", str(retrain.live_model(url)), "--endpoints", "endpoints.yml",
                             "--credentials", "credentials.yml", "-i", "127.0.0.1", "-p", str(port),
                             "--enable-api"], cwd=paths.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/", 300, proc)
        yield f"http://127.0.0.1:{port}", tmp_path / "rasa.log"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def served_model(base):
    with urllib.request.urlopen(f"{base}/status?token=retrain-test-token", timeout=30) as response:
        return json.loads(response.read())["model_file"]


def test_a_question_change_goes_live_through_the_background_retrain(url, rasa_server):
    base, log = rasa_server
    assert os.path.basename(served_model(base)) == paths.MODEL_FILE.name
    publish_new_questions(url)
    assert retrain.build(url, production=False) == "ready"
    live = retrain.status(url).live
    assert live.model_file.startswith("knowledge/") and live.knowledge_revision == store.revision(url)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and os.path.basename(served_model(base)) != os.path.basename(live.model_file):
        time.sleep(1)
    assert os.path.basename(served_model(base)) == os.path.basename(live.model_file), log.read_text()[-3000:]
    # The server kept answering while it loaded the new model, and a restart starts with it.
    assert retrain.live_model(url) == (paths.MODELS_DIR / live.model_file).resolve()
    assert retrain.check(url, production=False)[0] == "current"


def test_the_worker_starts_one_build_in_its_own_process_and_a_stopped_one_is_started_again(url):
    publish_new_questions(url)
    background = retrain.BackgroundRetrain(url, production=False)
    assert background.tick(0.0) == "build"
    try:
        assert background.proc is not None and background.proc.poll() is None
        deadline = time.monotonic() + 120
        while retrain.status(url).latest is None and time.monotonic() < deadline:
            time.sleep(0.5)  # the build process claims its row once it has rendered the data
        assert retrain.status(url).latest.state == "training"
        assert background.tick(1.0) == "training"  # one at a time
    finally:
        background.stop()
    assert retrain.status(url).latest is None
    assert retrain.check(url, production=False)[0] == "build"
