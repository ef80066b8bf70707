"""The sentence encoder's cost per message, in CPU time (run by `make bench`; alone:
`python -m bot.bench.encoder_cost`).

For each message of a sample (the triage phrase set and the held-out set: our own texts),
measures the CPU time of (a) the encoder pass (every clause in one packed run, shared by
triage and answer selection), with the rest of the triage work run between messages as in
the server, and (b) the whole triage assessment including that pass; mean, p50 and p95, and
tokens per message. One thread, as the server runs it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Dict, List

import yaml

from bot.config import paths


def sample_messages(limit: int) -> List[str]:
    phrases = yaml.safe_load((paths.ROOT / "tests" / "triage" / "labelled_phrases.yml").read_text())["phrases"]
    holdout = yaml.safe_load((paths.ROOT / "tests" / "eval" / "holdout.yml").read_text())["cases"]
    texts = [p["text"] for p in phrases]
    texts += [t["say"] for c in holdout for t in (c.get("turns") or [c])]
    return texts[:limit]


def _percentile(values: List[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure(limit: int = 400) -> Dict[str, float]:
    from bot.triage.engine import TriageEngine

    engine = TriageEngine()
    encoder = engine.semantic.encoder
    texts = sample_messages(limit)
    for t in texts[:20]:  # warm-up
        engine.assess(t)
    enc, tri, tokens = [], [], []
    for text in texts:
        norm, _ = engine.normalise(text)
        clauses = [norm[a:b] for a, b in engine.semantic.clauses(norm)]
        tokens.append(sum(len(encoder.tokenizer.ids(c, 256)) for c in clauses))
        # As in the server: the rest of the triage work runs between two messages' encoder
        # passes (which leaves the CPU caches as a real message finds them).
        engine._parse.cache_clear()
        engine.nlp(norm)
        start = time.process_time()
        encoder.encode(clauses)
        enc.append((time.process_time() - start) * 1000)
        encoder.encode_cached.cache_clear()
        engine._parse.cache_clear()
        start = time.process_time()
        engine.assess(text)
        tri.append((time.process_time() - start) * 1000)
    return {
        "messages": len(texts),
        "tokens_mean": round(statistics.mean(tokens), 1),
        "encoder_ms_mean": round(statistics.mean(enc), 2),
        "encoder_ms_p50": round(_percentile(enc, 0.5), 2),
        "encoder_ms_p95": round(_percentile(enc, 0.95), 2),
        "triage_ms_mean": round(statistics.mean(tri), 2),
        "triage_ms_p95": round(_percentile(tri, 0.95), 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.encoder_cost")
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--out", type=Path, default=paths.ROOT / "reports" / "encoder-cost.json")
    args = parser.parse_args(argv)
    result = measure(args.messages)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
