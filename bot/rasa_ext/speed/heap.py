"""Keeps the Rasa server's start-up heap out of Python's full garbage collections.

Once the model is loaded, the Rasa server holds ~640,000 objects that the garbage collector
tracks (TensorFlow, spaCy, Rasa and the model itself), nearly all of them for the life of the
process. A full collection walks every one of them: under load that happened every few
seconds and took 230-330 ms, and no message is handled meanwhile (at 10 conversations, p99
~460 ms against a p95 of ~165 ms). `gc.freeze()` moves what exists after start-up into a
permanent generation the collector skips, so a full collection walks only what was created
since (~50,000 objects, ~40 ms). Garbage collection itself is not turned off: everything
created while serving is collected as before; start-up garbage is collected once before the
freeze. Frozen objects are never collected, so a model replaced later would stay in memory:
the one way ours is replaced (live/model_swap.py, a model retrained from the published
knowledge base) unfreezes, collects and freezes again after the swap. Measured in
docs/performance.md "Round 4".
"""
from __future__ import annotations

import gc
import logging
import time
from typing import Any

import rasa.core.run

from bot.rasa_ext.registry import SPEED, then

logger = logging.getLogger(__name__)


def freeze() -> int:
    """Collect once, then freeze everything left; returns how many objects are frozen."""
    began = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("froze %d start-up objects out of garbage collection (%.0f ms)", frozen,
                1000 * (time.perf_counter() - began))
    return frozen


def freeze_after_start(app: Any) -> None:
    """On a Sanic app: freeze once the server has started. Rasa loads its model in a
    before_server_start listener, and Sanic runs after_server_start listeners after all of
    those, in each worker process."""
    async def freeze_start_up_heap(_app: Any, _loop: Any) -> None:
        freeze()

    app.register_listener(freeze_start_up_heap, "after_server_start")


# configure_app makes the app with or without --enable-api.
then(rasa.core.run, "configure_app", freeze_after_start, name="speed.start_up_heap_frozen", kind=SPEED,
     library="rasa",
     why="the model's ~640,000 start-up objects leave the garbage collector's full "
         "collections, which took 230-330 ms each under load")
