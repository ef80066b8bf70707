"""The benchmark's Markdown table, JSON and PNG chart."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict


def markdown_table(results: Dict[str, dict]) -> str:
    names = list(results)
    lines = ["| measure | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(str(fn(results[n])) for n in names) + " |")

    row("full training (s, fresh cache)", lambda r: r.get("train_s") if r.get("train_s") is not None else "-")
    row("cold start to first correct answer (s)", lambda r: r["cold_start_s"])
    row("Rasa server processes", lambda r: r.get("processes", 1))
    row("resident memory after warm-up, largest process (MB)", lambda r: r["rss_mb"])
    row("memory of all its processes, PSS (MB)", lambda r: r.get("pss_total_mb", "-"))
    for i, level in enumerate(results[names[0]]["loads"]):
        c = level["concurrency"]
        row(f"{c} conversations: throughput (msg/s)", lambda r, i=i: r["loads"][i]["throughput"])
        row(f"{c} conversations: p50 / p95 / p99 (ms)",
            lambda r, i=i: f'{r["loads"][i]["p50_ms"]} / {r["loads"][i]["p95_ms"]} / {r["loads"][i]["p99_ms"]}')
        row(f"{c} conversations: errors / messages", lambda r, i=i: f'{r["loads"][i]["errors"]} / {r["loads"][i]["messages"]}')
    row("dev answer accuracy", lambda r: r.get("dev", {}).get("answer_accuracy", "-"))
    row("dev: none turns served an entry", lambda r: r.get("dev", {}).get("none_turns_served_an_entry", "-"))
    row("dev: escalation recall", lambda r: r.get("dev", {}).get("escalation_recall", "-"))
    return "\n".join(lines) + "\n"


def chart(results: Dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for name, r in results.items():
        xs = [lv["concurrency"] for lv in r["loads"]]
        ax1.plot(xs, [lv["throughput"] for lv in r["loads"]], marker="o", label=name)
        ax2.plot(xs, [lv["p95_ms"] for lv in r["loads"]], marker="o", label=name)
    ax1.set(title="Throughput", xlabel="concurrent conversations", ylabel="messages / s")
    ax2.set(title="p95 latency", xlabel="concurrent conversations", ylabel="ms", yscale="log")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.legend()
        ax.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(results: Dict[str, dict], folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = markdown_table(results)
    (folder / "bench.md").write_text("# Benchmark\n\n" + table)
    chart(results, folder / "bench.png")
    return table
