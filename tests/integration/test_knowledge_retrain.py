"""A change to the published questions goes live through a background retrain
(bot/knowledge/retrain.py), and the running Rasa server swaps the new model in
(bot/rasa_ext/live/model_swap.py); a retrain that fails leaves the old model serving and says
why. Real training, a real Rasa server process, a real SQLite database."""
import os
import shutil
import time

import pytest
from sqlalchemy import update

from bot.config import paths
from bot.knowledge import retrain, store
from bot.model import file_hash, hash_file_for, verified_model
from bot.serve.processes import rasa_server, served_model
from bot.storage.db import transaction, upgrade
from bot.storage.models import ModelBuild, utcnow

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


TOKEN = "retrain-test-token"


@pytest.fixture
def rasa_following(url, tmp_path):
    """The Rasa server as `make run` starts it, following the database's live model."""
    log = tmp_path / "rasa.log"
    with rasa_server(url, retrain.live_model(url), TOKEN, log, {"MODEL_POLL_SECONDS": "1"}) as base:
        yield base, log


def test_a_question_change_goes_live_through_the_background_retrain(url, rasa_following):
    base, log = rasa_following
    assert served_model(base, TOKEN) == paths.MODEL_FILE.name
    publish_new_questions(url)
    assert retrain.build(url, production=False) == "ready"
    live = retrain.status(url).live
    assert live.model_file.startswith("knowledge/") and live.knowledge_revision == store.revision(url)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and served_model(base, TOKEN) != os.path.basename(live.model_file):
        time.sleep(1)
    assert served_model(base, TOKEN) == os.path.basename(live.model_file), log.read_text()[-3000:]
    # A restart starts with it.
    assert retrain.live_model(url) == (paths.MODELS_DIR / live.model_file).resolve()
    assert retrain.check(url, production=False)[0] == "current"


def test_the_worker_starts_one_build_in_its_own_process_and_a_stopped_one_is_started_again(url):
    publish_new_questions(url)
    background = retrain.BackgroundRetrain(url, production=False)
    assert background.tick(0.0) == "build"
    group = background.proc.pid
    try:
        assert background.proc.poll() is None
        deadline = time.monotonic() + 120
        while retrain.status(url).latest is None and time.monotonic() < deadline:
            time.sleep(0.5)  # the build process claims its row once it has rendered the data
        assert retrain.status(url).latest.state == "training"
        assert background.tick(1.0) == "training"  # one at a time
    finally:
        background.stop()
    # Rasa's training process went with it: nothing of the build's process group is left.
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
    assert retrain.status(url).latest is None
    assert retrain.check(url, production=False)[0] == "build"


@pytest.fixture
def earlier_build(url):
    """A ready, live build from an earlier question set (a copy of the files' model)."""
    name = f"knowledge/assistant-test{os.getpid()}.tar.gz"
    path = paths.MODELS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths.MODEL_FILE, path)
    digest = file_hash(path)
    hash_file_for(path).write_text(digest + "\n")
    with transaction(url) as s:
        s.add(ModelBuild(inputs="e" * 64, code_inputs=retrain.code_inputs(), state="ready", model_file=name,
                         model_sha256=digest, knowledge_revision=1, finished_at=utcnow(), live_since=utcnow()))
    yield path
    path.unlink(missing_ok=True)
    hash_file_for(path).unlink(missing_ok=True)


def test_a_failed_retrain_leaves_an_earlier_build_serving(url, earlier_build, tmp_path):
    publish_new_questions(url)
    broken = tmp_path / "config.yml"
    broken.write_text((paths.ROOT / "config.yml").read_text().replace("name: DIETClassifier",
                                                                        "name: NoSuchClassifier"))
    assert retrain.build(url, production=False, config=broken) == "failed"
    assert retrain.status(url).live.inputs == "e" * 64
    assert retrain.live_model(url) == earlier_build.resolve()


def test_a_build_that_does_not_match_its_hash_or_this_code_is_not_served(url, earlier_build):
    assert retrain.live_model(url) == earlier_build.resolve()
    with transaction(url) as s:
        s.execute(update(ModelBuild).values(model_sha256="0" * 64))
    assert retrain.live_model(url) == verified_model()  # the files' model instead
    with transaction(url) as s:
        s.execute(update(ModelBuild).values(model_sha256=file_hash(earlier_build), code_inputs="c" * 64))
    assert retrain.live_build(url) is None and retrain.live_model(url) == verified_model()
