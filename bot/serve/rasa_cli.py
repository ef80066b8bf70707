"""`python -m bot.serve.rasa_cli ARGS`: Rasa's own command line (`run`, `train`, `test`, ...)
with bot.rasa_ext installed first.

Every process of ours that runs Rasa starts here (make run, deploy/, the tests): our pipeline
refuses to load without the safety changes (bot/triage/tokenizer.py), so a bare
`python -m rasa run` cannot serve patients without them. `CLINIC_SPEEDUPS=off` leaves the
speed changes out.
"""
from __future__ import annotations

import sys
from typing import List, Optional


# Rasa's commands that answer patients, so quote clinic.yml's contact lines.
SERVING_COMMANDS = ("run", "shell")


def main(argv: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] and args[0] in SERVING_COMMANDS:
        # Before Rasa loads (it takes a while): in production, placeholders stop the start here.
        from bot.config.clinic import refuse_to_start_unless_ready

        refuse_to_start_unless_ready()
    from bot import rasa_ext

    rasa_ext.install_for_rasa()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *args]
    rasa_main()


if __name__ == "__main__":
    main()
