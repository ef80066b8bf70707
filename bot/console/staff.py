"""Staff accounts from the command line.

    python -m bot.console.staff add-user NAME [--role staff|clinician|admin] [--password-stdin]

The password is asked for twice (or read from standard input with --password-stdin); it is
stored as an argon2id hash. There is no default account and no default password."""
from __future__ import annotations

import argparse
import getpass
import sys

from bot.console.accounts import ROLES, AccountError, create_user
from bot.config.settings import Settings
from bot.storage.db import upgrade


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.console.staff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="create a console account")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="staff")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    url = Settings.from_env().database_url
    upgrade(url)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("error: the passwords differ", file=sys.stderr)
            return 2
    try:
        user = create_user(url, args.username, password, args.role)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created {user.role} '{user.username}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
