"""The background worker (`make run` starts it): delivers the outbox, queues safety-net
messages for unacknowledged alerts, finishes data deletions, and purges conversations past
the retention period (RETENTION_DAYS, default 365; at start, then hourly), and retrains the
model in a process of its own when the published questions change (bot/knowledge/retrain.py;
KNOWLEDGE_RETRAIN=off leaves that out).

    python -m bot.serve.worker [--once]

A malformed RETENTION_DAYS, or in production placeholders in clinic.yml (the safety net
quotes its contact lines), stops the worker at start (exit code 2) with a message saying what
is valid.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from typing import Optional

from bot.config.clinic import ClinicConfigError, load_at_start, load_clinic
from bot.escalation.safety_net import queue_due_safety_nets
from bot.knowledge import retrain as knowledge_retrain
from bot.knowledge.retrain import BackgroundRetrain
from bot.config.logging_setup import configure_logging
from bot.notify.factory import build_notifiers
from bot.notify.outbox import Outbox
from bot.privacy.deletion import sweep
from bot.privacy.retention import RetentionJob
from bot.config.settings import Settings, SettingsError
from bot.storage.db import upgrade

logger = logging.getLogger("bot.serve.worker")


async def run_once(settings: Settings, outbox: Outbox, safety_net_minutes: int,
                   retention: Optional[RetentionJob] = None, retrain: Optional[BackgroundRetrain] = None) -> int:
    queued = queue_due_safety_nets(settings.database_url, safety_net_minutes, settings.notifiers)
    if queued:
        logger.info("safety net queued for escalations %s", queued)
    sweep(settings.database_url)
    delivered = await outbox.drain()
    if retention is not None:  # after the alerts: a purge never delays one
        retention.run_if_due()
    if retrain is not None:
        retrain.tick(time.monotonic())
    return delivered


async def main_async(once: bool, interval: float) -> int:
    settings = Settings.from_env()
    retention_days = settings.retention_days  # validated in main()
    upgrade(settings.database_url)
    retention = RetentionJob(settings.database_url, retention_days) if retention_days else None
    if retention is None:
        logger.warning("RETENTION_DAYS=off: conversation texts and contact details are kept forever")
    else:
        logger.info("retention: conversations with no activity for %d days are purged (checked hourly)",
                    retention_days)
    names = list(settings.notifiers)
    if os.environ.get("RASA_API_TOKEN"):
        names.append("patient")
    outbox = Outbox(settings.database_url, build_notifiers(names))
    clinic = load_clinic()
    retrain = None
    if knowledge_retrain.enabled():
        from bot.config.secrets import production

        retrain = BackgroundRetrain(settings.database_url, production())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while True:
        try:
            await run_once(settings, outbox, clinic.safety_net_minutes, retention, retrain)
        except Exception:  # noqa: BLE001 - keep working; the next round retries
            logger.exception("worker round failed")
        if once:
            return 0
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            if retrain is not None:
                retrain.stop()
            return 0
        except asyncio.TimeoutError:
            pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.serve.worker", description=__doc__)
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--interval", type=float, default=float(os.environ.get("WORKER_INTERVAL", "2")))
    args = parser.parse_args(argv)
    configure_logging()
    try:
        Settings.from_env().retention_days
        knowledge_retrain.enabled()
        load_at_start()
    except (SettingsError, ClinicConfigError, ValueError) as exc:
        print(f"bot.serve.worker: not starting: {exc}", file=sys.stderr, flush=True)
        return 2
    return asyncio.run(main_async(args.once, args.interval))


if __name__ == "__main__":
    sys.exit(main())
