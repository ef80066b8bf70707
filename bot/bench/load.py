"""A bounded load generator: a fixed number of concurrent conversations over Rasa's REST
channel, each a realistic mix (a question, a follow-up, another question, a symptom report
that escalates), on loopback. Stops after `messages` messages or `max_seconds`.

Each simulated patient keeps its own keep-alive connection, as a browser tab does. The client
is aiohttp rather than httpx: it shares the 2 cores with the servers it measures, and httpx
spent ~1.8 ms of CPU per message there against ~0.6 ms."""
from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import List

import aiohttp

SCRIPT = (
    "how long should I avoid the gym after my injections?",
    "and for how long?",
    "can I take ibuprofen for the pain?",
    "had my treatment 2 days ago and now I've got a fever",
)


@dataclass
class LoadResult:
    concurrency: int
    messages: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: List[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    def row(self) -> dict:
        return {"concurrency": self.concurrency, "messages": self.messages, "errors": self.errors,
                "throughput": round(self.throughput, 2), "p50_ms": round(self.percentile(50), 1),
                "p95_ms": round(self.percentile(95), 1), "p99_ms": round(self.percentile(99), 1),
                "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else None}


async def run_load(rasa_url: str, concurrency: int, messages: int, max_seconds: float = 180,
                   timeout: float = 30) -> LoadResult:
    result = LoadResult(concurrency)
    url = f"{rasa_url}/webhooks/rest/webhook"
    deadline = time.monotonic() + max_seconds
    remaining = [messages]

    async def conversation_worker() -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            while remaining[0] > 0 and time.monotonic() < deadline:
                sender = f"bench-{uuid.uuid4().hex[:10]}"
                for text in SCRIPT:
                    if remaining[0] <= 0 or time.monotonic() >= deadline:
                        return
                    remaining[0] -= 1
                    start = time.perf_counter()
                    try:
                        async with session.post(url, json={"sender": sender, "message": text}) as resp:
                            ok = resp.status == 200 and bool(await resp.json())
                    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                        ok = False
                    elapsed = (time.perf_counter() - start) * 1000
                    result.messages += 1
                    if ok:
                        result.latencies_ms.append(elapsed)
                    else:
                        result.errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(conversation_worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - began
    return result
