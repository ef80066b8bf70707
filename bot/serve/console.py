"""python -m bot.serve.console [--port 8081] [--host 127.0.0.1]: serve the staff console.

Loopback by default. In a container, `--host 0.0.0.0` lets the port published on the host's
loopback (deploy/docker-compose.yml) reach it; nothing else on the container's networks is
routed to it."""
import argparse
import os
import sys

from bot.config.logging_setup import configure_logging


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.serve.console")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CONSOLE_PORT", "8081")))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    configure_logging()
    import uvicorn

    from bot.console.app import create_app

    # Access logs carry paths, which hold ids only (never patient data).
    # No websockets here (and Rasa pins an older websockets package than uvicorn would use).
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info", ws="none", http="h11")
    return 0


if __name__ == "__main__":
    sys.exit(main())
