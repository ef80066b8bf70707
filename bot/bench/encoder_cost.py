"""The sentence encoder's cost per message, in CPU time (run by `make bench`; alone:
`python -m bot.bench.encoder_cost`).

For each message of a sample (the triage phrase set and the held-out set: our own texts),
measures the CPU time of (a) the encoder pass (every clause in one packed run, as triage and
answer selection share it), (b) the whole triage assessment including that pass, both with
the per-process cache cleared, and reports mean, p50 and p95, plus tokens per message.
One thread, as the server runs it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Dict, List

import yaml

from bot import paths


def sample_messages(limit: int) -> List[str]:
    phrases = yaml.safe_load((paths.ROOT / "tests" / "triage" / "labelled_phrases.yml").read_text())["phrases"]
    holdout = yaml.safe_load((paths.ROOT / "tests" / "eval" / "holdout.yml").read_text())["cases"]
    texts = [p["text"] for p in phrases]
    texts += [t["say"] for c in holdout for t in (c.get("turns") or [c])]
    return texts[:limit]


def _percentile(values: List[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure(limit: int = 400, repeats: int = 3) -> Dict[str, float]:
    from bot.triage.engine import TriageEngine

    engine = TriageEngine()
    encoder = engine.semantic.encoder
    texts = sample_messages(limit)
    for t in texts[:20]:  # warm-up
        engine.assess(t)
    enc, tri, tokens = [], [], []
    for text in texts:
        norm, _ = engine.normalise(text)
        clauses = tuple(norm[a:b] for a, b in engine.semantic.clauses(norm))
        tokens.append(sum(len(encoder.tokenizer.ids(c, 256)) for c in clauses))
        best_enc = best_tri = float("inf")
        for _ in range(repeats):  # the least disturbed of a few runs
            encoder.encode_cached.cache_clear()
            start = time.process_time()
            encoder.encode(list(clauses))
            best_enc = min(best_enc, time.process_time() - start)
            encoder.encode_cached.cache_clear()
            engine._parse.cache_clear()
            start = time.process_time()
            engine.assess(text)
            best_tri = min(best_tri, time.process_time() - start)
        enc.append(best_enc * 1000)
        tri.append(best_tri * 1000)
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
