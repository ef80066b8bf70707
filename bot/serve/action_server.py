"""`python -m bot.serve.action_server ARGS`: rasa_sdk's action server (`--actions actions
--port N`) with bot.rasa_ext's action-server changes installed first.

The actions package refuses to load inside an action server that lacks them
(actions/__init__.py), so a bare `python -m rasa_sdk` cannot run our actions unguarded.
"""
from __future__ import annotations

import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> None:
    from bot import rasa_ext

    rasa_ext.install_for_action_server()
    from rasa_sdk.__main__ import main as sdk_main

    sys.argv = ["rasa_sdk", *(sys.argv[1:] if argv is None else argv)]
    sdk_main()


if __name__ == "__main__":
    main()
