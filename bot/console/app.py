"""The staff console web app (Starlette + Jinja2, server-rendered, on its own port).

    create_app(settings) -> Starlette app;  python -m bot.serve.console serves it (make run starts it)

No patient data in URLs (ids only) or logs; everything a patient typed is rendered as text
(Jinja2 autoescaping). Every page and API needs a signed-in staff member; forms carry a CSRF
token; admins also manage accounts and read the audit log; clinicians also sign knowledge
entries. The pages are in bot/console/routes/, one module per area; the plumbing they share
(forms, sign-in guard, page template) in bot/console/web.py.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bot.console.routes import accounts, curation, knowledge, queue, signin
from bot.console.web import HERE, Console, SecurityHeaders
from bot.knowledge import KnowledgeError
from bot.knowledge.store import ensure_seeded
from bot.config.secrets import production
from bot.config.settings import Settings
from bot.storage.db import upgrade

logger = logging.getLogger(__name__)
AREAS = (signin, queue, curation, knowledge, accounts)


def create_app(settings: Optional[Settings] = None) -> Starlette:
    settings = settings or Settings.from_env()
    url = settings.database_url
    upgrade(url)
    # The knowledge area edits what knowledge/ seeded: a new install gets it before the first
    # page. Broken files must not keep staff from the escalation queue: logged, retried later.
    try:
        ensure_seeded(url)
    except KnowledgeError:
        logger.exception("console: cannot seed the knowledge base from knowledge/")
    console = Console(url, secure_cookies=production() or os.environ.get("CONSOLE_SECURE_COOKIES") == "1",
                      production=production())
    routes = [route for area in AREAS for route in area.routes(console)]
    routes.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
