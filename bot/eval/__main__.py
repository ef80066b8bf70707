"""python -m bot.eval FILE.yml --out REPORT.json [--model models/assistant.tar.gz]

Runs every case through the real assistant and writes a per-turn report with a summary."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.config import paths
from bot.config.logging_setup import configure_logging


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.eval", description=__doc__)
    parser.add_argument("cases", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=paths.MODEL_FILE)
    args = parser.parse_args(argv)
    configure_logging()

    from bot.eval.cases import CaseError, load_cases
    from bot.knowledge.loader import load_topics
    from bot.eval.runner import run

    try:
        cases = load_cases(args.cases, load_topics())
    except CaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from bot.model import ModelIntegrityError, verified_model

    try:
        model = verified_model(args.model)
    except ModelIntegrityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = run(cases, model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = {k: v for k, v in report["summary"].items() if not k.endswith("_errors")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
