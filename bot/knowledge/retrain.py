"""A change to the published questions, live without a restart: retrain in the background, check
the new model, then let the Rasa server swap it in.

An answer's text is served from the database at the next message (bot/knowledge/live.py); the
classifier, though, learned the questions of the files it was trained from. When the published
set's questions differ from them, the worker (bot/serve/worker.py) starts

    python -m bot.knowledge.retrain build

which renders the Rasa training data from the database the way `python -m bot.knowledge build`
renders it from knowledge/, trains into models/knowledge/ under the hash of its inputs,
records the archive's hash, loads the model and parses every entry's first question (the smoke
check), and only then marks the build live. The Rasa server (bot/rasa_ext/live/model_swap.py)
loads the newest live build beside the model it serves and swaps it in once it has loaded;
until then, and whenever a build fails, the model before it keeps serving and the console shows
why. Rasa's own /model API stays closed.

Builds are in the database (`model_builds`), keyed by the hash of everything the model is
trained from, so a published set that returns to an earlier state reuses that build, and the
set that matches the files uses the model `make run` trained from them.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional, Tuple

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.config import paths
from bot.knowledge import store
from bot.knowledge.generate import GENERATED_FILES, render_all
from bot.knowledge.live import build_snapshot
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.serving import ServingConfig
from bot.model import (ModelIntegrityError, file_hash, hash_file_for, inputs_hash, recorded_inputs,
                       verified_model)
from bot.storage.db import transaction
from bot.storage.models import ModelBuild, utcnow

logger = logging.getLogger(__name__)

BUILDS_DIR = paths.MODELS_DIR / "knowledge"
FILES_MODEL = paths.MODEL_FILE.name  # the model trained from knowledge/ (`make train`)
TRAIN_TIMEOUT = 1800
# A build still "training" this long after it started belongs to a process that died.
STALE_TRAINING = dt.timedelta(seconds=TRAIN_TIMEOUT + 300)
# The smoke check: at least this share of the entries' first questions parse to their entry.
SMOKE_SHARE = 0.9
ERROR_CHARS = 2000
# A failed build is tried again after this long (a busy machine, a timeout), or at the next edit.
RETRY_AFTER = dt.timedelta(minutes=15)
SETTING = "KNOWLEDGE_RETRAIN"


def enabled() -> bool:
    value = (os.environ.get(SETTING) or "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{SETTING} must be 'on' or 'off', not {value!r}")
    return value == "on"


@dataclass(frozen=True)
class Wanted:
    inputs: str                     # hash of every training input, generated data from the database
    revision: int                   # knowledge revision it was rendered from
    overrides: Dict[Path, str]      # generated file -> its contents rendered from the database
    kb: KnowledgeBase               # what it was rendered from (the smoke check parses its questions)


@lru_cache(maxsize=1)
def code_inputs() -> str:
    """The hash of every training input but the knowledge base's generated files: the code,
    pipeline and other data a model was trained with. Fixed for a process's life."""
    return inputs_hash({p: "" for p in GENERATED_FILES})


@dataclass(frozen=True)
class Status:
    """What the console shows: the build serving patients, and the latest one if different."""

    live: Optional[ModelBuild]
    latest: Optional[ModelBuild]


def wanted(url: str, production: bool) -> Wanted:
    store.ensure_seeded(url)
    rev = store.revision(url) or 0
    kb = build_snapshot(url, ServingConfig.load(), production, rev).kb
    overrides = render_all(kb)
    return Wanted(inputs_hash(overrides), rev, overrides, kb)


def _model_name(inputs: str) -> str:
    return f"knowledge/assistant-{inputs[:16]}.tar.gz"


def live_build(url: str) -> Optional[ModelBuild]:
    """The build the Rasa server should serve: the ready one, trained with this code, that
    became live last."""
    with transaction(url) as s:
        row = s.scalars(select(ModelBuild).where(ModelBuild.state == "ready", ModelBuild.live_since.is_not(None),
                                                 ModelBuild.code_inputs == code_inputs())
                        .order_by(ModelBuild.live_since.desc(), ModelBuild.id.desc()).limit(1)).first()
        if row is not None:
            s.expunge(row)
        return row


def live_model(url: str) -> Path:
    """The model file to serve, checked against its recorded hash; the files' model when no
    build is live or the live one does not check out."""
    build = live_build(url)
    if build is not None and build.model_file != FILES_MODEL:
        try:
            return verified_build(build)
        except ModelIntegrityError as exc:
            logger.error("live model build %s does not check out (%s): serving the files' model", build.id, exc)
    return verified_model()


def verified_build(build: ModelBuild) -> Path:
    """The build's archive, checked against the hash recorded beside it and in the database."""
    path = verified_model(paths.MODELS_DIR / build.model_file)
    if not build.model_sha256 or file_hash(path) != build.model_sha256:
        raise ModelIntegrityError(f"{path} does not match the hash its build recorded")
    return path


def status(url: str) -> Status:
    with transaction(url) as s:
        latest = s.scalars(select(ModelBuild).order_by(ModelBuild.started_at.desc(), ModelBuild.id.desc())
                           .limit(1)).first()
        if latest is not None:
            s.expunge(latest)
    return Status(live_build(url), latest)


def _make_live(url: str, inputs: str) -> None:
    with transaction(url) as s:
        s.execute(update(ModelBuild).where(ModelBuild.inputs == inputs).values(live_since=utcnow()))


def _claim(url: str, want: Wanted) -> bool:
    """Insert the build's row as `training`; False when another process has it already."""
    try:
        with transaction(url) as s:
            s.add(ModelBuild(inputs=want.inputs, code_inputs=code_inputs(), state="training",
                             knowledge_revision=want.revision))
        return True
    except IntegrityError:
        return False


def check(url: str, production: bool) -> Tuple[str, Optional[Wanted]]:
    """What the published set needs now: ("current", None) when the live model is trained from
    it; ("made_live", None) when an earlier build (or the files' model) is, and it was made live
    again; ("training", None) while its build runs; ("failed", None) when its build failed (a
    new edit tries again); ("build", want) when a build should start."""
    want = wanted(url, production)
    live = live_build(url)
    if live is not None and live.inputs == want.inputs:
        return "current", None
    if want.inputs == recorded_inputs() and paths.MODEL_FILE.exists():
        if live is None:
            return "current", None  # nothing was ever retrained: the files' model serves
        try:
            with transaction(url) as s:
                s.add(ModelBuild(inputs=want.inputs, code_inputs=code_inputs(), state="ready", model_file=FILES_MODEL,
                                 model_sha256=file_hash(paths.MODEL_FILE), knowledge_revision=want.revision,
                                 finished_at=utcnow()))
        except IntegrityError:
            pass
        _make_live(url, want.inputs)
        return "made_live", None
    with transaction(url) as s:
        row = s.scalars(select(ModelBuild).where(ModelBuild.inputs == want.inputs)).first()
        state, started, finished = (row.state, row.started_at, row.finished_at) if row is not None else (None,) * 3
    if state == "ready":
        _make_live(url, want.inputs)
        return "made_live", None
    if state == "training" and utcnow() - started < STALE_TRAINING:
        return "training", None
    if state == "failed" and finished is not None and utcnow() - finished < RETRY_AFTER:
        return "failed", None
    if state == "failed":  # long enough ago: try again
        with transaction(url) as s:
            s.execute(delete(ModelBuild).where(ModelBuild.inputs == want.inputs, ModelBuild.state == "failed"))
        return "build", want
    if state == "training":  # its process died: take it over
        with transaction(url) as s:
            s.execute(update(ModelBuild).where(ModelBuild.inputs == want.inputs).values(
                state="failed", error="the build stopped without finishing (its process ended)",
                finished_at=utcnow()))
        return "failed", None
    return "build", want


def _training_tree(want: Wanted, into: Path) -> Path:
    """config.yml, data/ and domain/ as they are, with the knowledge base's generated files
    rendered from the database."""
    for name in ("data", "domain"):
        shutil.copytree(paths.ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(paths.ROOT / "config.yml", into / "config.yml")
    for path, text in want.overrides.items():
        target = into / Path(path).resolve().relative_to(paths.ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return into


def _why(output: str) -> str:
    """The lines of Rasa's output that say what went wrong (it also prints progress and
    deprecation warnings), else its last lines."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.search(r"\b\w*(Error|Exception)\b|^error\b|\bERROR\b", ln)
              and "Warning" not in ln]
    return "\n".join((errors or lines)[-3:])[-ERROR_CHARS:]


def _fail(url: str, inputs: str, error: str) -> None:
    logger.error("knowledge retrain %s failed: %s", inputs[:16], error)
    with transaction(url) as s:
        s.execute(update(ModelBuild).where(ModelBuild.inputs == inputs).values(
            state="failed", error=error[-ERROR_CHARS:], finished_at=utcnow()))


def smoke_check(model: Path, kb: KnowledgeBase) -> Optional[str]:
    """Load the model as the server would and parse each entry's first question (of the
    knowledge base it was trained from); None when it passes, else why not."""
    from bot import rasa_ext

    rasa_ext.install_for_rasa()
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    intents = set(agent.domain.intents)
    missing = [e.intent for e in kb if e.intent not in intents]
    if missing:
        return f"the new model does not know the intent(s) {', '.join(missing)}"

    async def parse_all():
        return [(e, await agent.parse_message(e.questions[0])) for e in kb]

    parsed = asyncio.run(parse_all())
    wrong = [f"'{e.questions[0]}' -> {p['intent'].get('name')}" for e, p in parsed
             if (p.get("intent") or {}).get("name") != e.intent]
    if len(wrong) > (1 - SMOKE_SHARE) * len(parsed):
        return f"{len(wrong)} of {len(parsed)} entries' first questions parse to another intent: " + "; ".join(wrong[:5])
    return None


def build(url: str, production: bool, config: Optional[Path] = None) -> str:
    """Train, check and make live a model for the published set, if it needs one. Returns the
    outcome of `check`, or "ready" / "failed" for a build this call ran."""
    outcome, want = check(url, production)
    if outcome != "build":
        return outcome
    if not _claim(url, want):
        return "training"
    name = _model_name(want.inputs)
    target = paths.MODELS_DIR / name
    logger.info("knowledge retrain %s: training from knowledge revision %s", want.inputs[:16], want.revision)
    try:
        # Trained beside models/knowledge/ and moved into place whole, with its hash: a reader
        # never sees a half-written archive or an archive that does not match its hash.
        BUILDS_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="retrain-") as tmp, \
                tempfile.TemporaryDirectory(prefix=".partial-", dir=BUILDS_DIR) as partial:
            tree = _training_tree(want, Path(tmp))
            cmd = [sys.executable, "-m", "bot.serve.rasa_cli", "train", "--domain", str(tree / "domain"),
                   "--data", str(tree / "data"), "--config", str(config or tree / "config.yml"),
                   "--out", partial, "--fixed-model-name", target.name[: -len(".tar.gz")]]
            done = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True, timeout=TRAIN_TIMEOUT)
            trained = Path(partial) / target.name
            if done.returncode != 0 or not trained.exists():
                _fail(url, want.inputs, f"training failed (exit code {done.returncode}): "
                                        + _why(done.stderr + "\n" + done.stdout))
                return "failed"
            digest = file_hash(trained)
            hash_file_for(trained).write_text(digest + "\n")
            os.replace(hash_file_for(trained), hash_file_for(target))
            os.replace(trained, target)
        path = verified_model(target)
        if file_hash(path) != digest:
            raise ModelIntegrityError(f"{path} changed after it was trained")
        problem = smoke_check(path, want.kb)
    except subprocess.TimeoutExpired:
        _fail(url, want.inputs, f"training took longer than {TRAIN_TIMEOUT} s")
        return "failed"
    except Exception as exc:  # noqa: BLE001 - any failure leaves the old model serving, said in the console
        _fail(url, want.inputs, f"{type(exc).__name__}: {exc}")
        return "failed"
    if problem:
        _fail(url, want.inputs, f"the new model did not pass its check: {problem}")
        return "failed"
    # Live only if the published set still wants it: an edit during training starts a new build.
    still_wanted = wanted(url, production).inputs == want.inputs
    with transaction(url) as s:
        s.execute(update(ModelBuild).where(ModelBuild.inputs == want.inputs).values(
            state="ready", model_file=name, model_sha256=digest, finished_at=utcnow(),
            live_since=utcnow() if still_wanted else None))
    logger.info("knowledge retrain %s: ready%s (%s)", want.inputs[:16], " and live" if still_wanted else "", name)
    return "ready"


class BackgroundRetrain:
    """The worker's part: look at the published set when the knowledge revision moves, and run
    one build at a time in a process group of its own (training takes minutes and a lot of CPU;
    the worker's rounds, which deliver staff alerts, must not wait for it). Only one worker per
    database may run builds (deploy/ runs one worker)."""

    RECHECK = 30.0   # seconds, while another process's build runs
    BACKOFF = 60.0   # seconds, after a build process that ended with an error

    def __init__(self, url: str, production: bool):
        self.url, self.production = url, production
        self.proc: Optional[subprocess.Popen] = None
        self.seen: Optional[int] = None
        self.recheck_at = 0.0
        # A build left "training" by a worker that stopped is started again, not waited for
        # (its process group was stopped with it, or ends itself when its parent is gone).
        forget_unfinished(url)

    def tick(self, now: float) -> Optional[str]:
        if self.proc is not None:
            if self.proc.poll() is None:
                return "training"
            code = self.proc.returncode
            self.proc, self.seen = None, None
            if code not in (0, 1):  # 1: a failure the build recorded itself
                logger.error("knowledge retrain process ended with code %s", code)
                abandon(self.url, f"the build process ended with code {code}")
                self.recheck_at = now + self.BACKOFF
                return "failed"
        rev = store.revision(self.url)
        if rev is None or (rev == self.seen and now < self.recheck_at):
            return None  # not seeded yet: the files' model is the knowledge base's
        outcome, _ = check(self.url, self.production)
        self.seen = rev
        self.recheck_at = now + (self.RECHECK if outcome in ("training", "failed") else float("inf"))
        if outcome == "build":
            logger.info("knowledge revision %s changed the questions: retraining in the background", rev)
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.knowledge.retrain", "build"], cwd=paths.ROOT,
                                         env={**os.environ, "DATABASE_URL": self.url}, start_new_session=True)
        return outcome

    def stop(self) -> None:
        """Stop a running build and everything it started (Rasa's training process too)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        forget_unfinished(self.url)


def forget_unfinished(url: str) -> None:
    with transaction(url) as s:
        s.execute(delete(ModelBuild).where(ModelBuild.state == "training"))


def abandon(url: str, reason: str) -> None:
    """A build whose process ended without recording how: failed, with that reason."""
    with transaction(url) as s:
        s.execute(update(ModelBuild).where(ModelBuild.state == "training").values(
            state="failed", error=reason, finished_at=utcnow()))


def refuse(url: str, build_id: int, reason: str) -> None:
    """A ready build the Rasa server could not load: failed, so the one before it is live again."""
    with transaction(url) as s:
        s.execute(update(ModelBuild).where(ModelBuild.id == build_id).values(
            state="failed", error=reason[-ERROR_CHARS:], live_since=None, finished_at=utcnow()))


def _end_with_parent() -> None:
    """A build started by the worker stops when the worker is gone, even killed (SIGKILL leaves
    no chance to stop it): its process group, Rasa's training included, is ended."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.killpg(os.getpgrp(), signal.SIGTERM)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def main(argv=None) -> int:
    from bot.config.logging_setup import configure_logging
    from bot.config.secrets import production
    from bot.config.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m bot.knowledge.retrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("build", "check"))
    parser.add_argument("--config", type=Path, help="a Rasa pipeline other than config.yml (tests)")
    args = parser.parse_args(argv)
    configure_logging()
    url = Settings.from_env().database_url
    if args.command == "check":
        print(check(url, production())[0])
        return 0
    # SIGTERM unwinds (temporary directories removed) instead of ending the process on the spot.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.getpgrp() == os.getpid():  # started in a group of its own, by the worker
        _end_with_parent()
    outcome = build(url, production(), args.config)
    print(outcome)
    return 1 if outcome == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
