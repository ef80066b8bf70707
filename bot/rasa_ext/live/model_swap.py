"""The Rasa server follows the model built from the published knowledge base.

Rasa replaces a running model only through its /model API (closed here: api_hardening) or a
model server; neither fits a model trained beside the server from the clinic's own edits
(bot/knowledge/retrain.py). After the server has started, this polls the database for the
live build every POLL_SECONDS (one indexed query); when it names another model, the model's
hash is checked, a new MessageProcessor loads it in a thread while the current one keeps
answering, and then the agent's processor and domain are replaced together, as Rasa's own
Agent.load_model does. A model that does not load is marked failed in the database with the
reason (the console shows it), and the current one stays.

The start-up heap is frozen out of garbage collection (speed/heap.py); the replaced model's
objects are in it, so after a swap the heap is unfrozen, collected and frozen again.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any, Optional

import rasa.core.run

from bot.rasa_ext.registry import LIVE, then

logger = logging.getLogger(__name__)

POLL_SECONDS = float(os.environ.get("MODEL_POLL_SECONDS", "5"))


def load_processor(agent: Any, path: Path) -> Any:
    """A MessageProcessor for `path` sharing the agent's stores and endpoints (Agent.load_model's
    arguments), built off the event loop."""
    from rasa.core.processor import MessageProcessor

    return MessageProcessor(model_path=path, tracker_store=agent.tracker_store, lock_store=agent.lock_store,
                            action_endpoint=agent.action_endpoint, generator=agent.nlg,
                            http_interpreter=agent.http_interpreter)


def swap_in(agent: Any, processor: Any) -> None:
    """What Agent.load_model does once its processor is built, in one step of the event loop."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator

    agent.processor = processor
    agent.domain = processor.domain
    agent.tracker_store.domain = processor.domain
    if isinstance(agent.nlg, TemplatedNaturalLanguageGenerator):
        agent.nlg.responses = processor.domain.responses if processor.domain else {}
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
        gc.freeze()


async def follow_once(agent: Any, url: str, loop: asyncio.AbstractEventLoop) -> Optional[Path]:
    """Swap in the live build if it is not what the agent serves; returns the new model's path.
    An agent left without a model (its model did not load at start) gets the live build, or
    the files' model."""
    from bot.knowledge import retrain
    from bot.model import verified_model

    build = await loop.run_in_executor(None, retrain.live_build, url)
    if build is None and agent.processor is not None:
        return None
    ours = build is not None and build.model_file != retrain.FILES_MODEL  # a retrained build
    target = (retrain.paths.MODELS_DIR / build.model_file if ours else retrain.paths.MODEL_FILE).resolve()
    if agent.processor is not None and Path(agent.processor.model_path).resolve() == target:
        return None
    try:
        path = await loop.run_in_executor(None, partial(retrain.verified_build, build) if ours else verified_model)
        processor = await loop.run_in_executor(None, load_processor, agent, path)
    except Exception as exc:  # noqa: BLE001 - the current model keeps serving (a bad hash included)
        reason = f"the Rasa server could not load it: {type(exc).__name__}: {exc}"
        logger.error("model %s not swapped in: %s", target.name, reason)
        if ours:
            await loop.run_in_executor(None, retrain.refuse, url, build.id, reason)
        return None
    swap_in(agent, processor)
    logger.info("now serving %s", target.name)
    return path


def follow_live_model(app: Any) -> None:
    """On the Sanic app: after start, follow the live build until the server stops."""
    async def start_following(app_: Any, loop: asyncio.AbstractEventLoop) -> None:
        from bot.config.settings import Settings

        url = Settings.from_env().database_url

        async def follow() -> None:
            while True:
                await asyncio.sleep(POLL_SECONDS)
                agent = getattr(app_.ctx, "agent", None)
                if agent is None or agent.tracker_store is None:
                    continue
                try:
                    await follow_once(agent, url, loop)
                except Exception:  # noqa: BLE001 - the database may be down: try again later
                    logger.warning("could not check for a new model", exc_info=True)

        app_.ctx.model_follower = loop.create_task(follow())

    async def stop_following(app_: Any, _loop: asyncio.AbstractEventLoop) -> None:
        task = getattr(app_.ctx, "model_follower", None)
        if task is not None:
            task.cancel()

    app.register_listener(start_following, "after_server_start")
    app.register_listener(stop_following, "before_server_stop")


then(rasa.core.run, "configure_app", follow_live_model, name="live.model_follows_knowledge", kind=LIVE,
     library="rasa", uses=("sanic",),
     why="a change to the published questions is served by a model retrained in the background "
         "(bot/knowledge/retrain.py); Rasa swaps models only through its closed /model API")
