"""The Rasa server's command (`make run` and deploy/), with the API token kept off the command line.

    python -m bot.serve.rasa_server -m bot.serve.rasa_cli run ARGS

runs `python -m bot.serve.rasa_cli run ARGS --auth-token TOKEN` in this same process, TOKEN
being RASA_API_TOKEN from the environment.

Why: Rasa 3.6 takes its API token only as a command-line option (`--auth-token`; no
environment variable), and a command line is public: `ps` and /proc/PID/cmdline show it to
every user of the host, `docker inspect` shows a compose command with the value interpolated,
and a pod spec's args are readable by anyone who can read pods. The option is added to
`sys.argv` after the process has started, which changes none of those.

Before anything is loaded, the secrets the Rasa server uses are checked (bot/config/secrets.py): in
production (CLINIC_ENV=production) a missing or short RASA_API_TOKEN, or a
TELEGRAM_WEBHOOK_SECRET that is set but short, stops the start with a message.
"""
from __future__ import annotations

import runpy
import sys
from typing import List, Optional, Tuple

from bot.config.secrets import SecretError, get_secret, optional_secret

TOKEN_VARIABLE = "RASA_API_TOKEN"
USAGE = "usage: python -m bot.serve.rasa_server -m MODULE ARGS (the API token comes from RASA_API_TOKEN)"


def _gives_a_token(arg: str) -> bool:
    # argparse also accepts "--auth-token=X", an abbreviation such as "--auth X", and "-tX".
    return arg.startswith("--auth") or arg.startswith("-t")


def command(argv: List[str]) -> Tuple[str, List[str]]:
    """The module to run and its full argument list, token included. Raises SecretError or
    ValueError (with the reason) instead of starting anything."""
    if len(argv) < 2 or argv[0] != "-m":
        raise ValueError(USAGE)
    module, args = argv[1], argv[2:]
    if any(_gives_a_token(arg) for arg in args):
        raise ValueError(f"the API token must come from {TOKEN_VARIABLE} in the environment, "
                         "not from the command line (which `ps` and `docker inspect` show)")
    token = get_secret(TOKEN_VARIABLE)
    optional_secret("TELEGRAM_WEBHOOK_SECRET")  # read by the Telegram channel in this process
    return module, [*args, "--auth-token", token]


def main(argv: Optional[List[str]] = None) -> int:
    try:
        module, args = command(sys.argv[1:] if argv is None else argv)
    except (SecretError, ValueError) as exc:
        print(f"not starting: {exc}", file=sys.stderr)
        return 2
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
