"""python -m bot.serve.console [--port 8081]: serve the staff console on 127.0.0.1."""
import argparse
import os
import sys

from bot.config.logging_setup import configure_logging


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.serve.console")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CONSOLE_PORT", "8081")))
    args = parser.parse_args(argv)
    configure_logging()
    import uvicorn

    from bot.console.app import create_app

    # Access logs carry paths, which hold ids only (never patient data).
    # No websockets here (and Rasa pins an older websockets package than uvicorn would use).
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="info", ws="none", http="h11")
    return 0


if __name__ == "__main__":
    sys.exit(main())
