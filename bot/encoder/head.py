"""A linear softmax head over the encoder's sentence vectors, shared by answer selection (the
knowledge intents) and triage (the red-flag groups).

Nearest-example scores follow one lucky paraphrase; the head weighs all of a label's examples
against all of the others'. Full-batch gradient descent from zeros, so the same data gives the
same weights. The defaults were chosen on the read answer sets (docs/understanding.md
"Candidates tried").
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

EPOCHS = 3000
LEARNING_RATE = 10.0
L2 = 1e-5


def train_linear_head(vectors: np.ndarray, labels: Sequence[str], names: List[str],
                      epochs: int = EPOCHS, learning_rate: float = LEARNING_RATE, l2: float = L2):
    """Softmax regression: weights (dim x labels, columns in `names` order) and biases."""
    index = {n: i for i, n in enumerate(names)}
    onehot = np.eye(len(names), dtype=np.float64)[[index[v] for v in labels]]
    x = vectors.astype(np.float64)
    weights = np.zeros((x.shape[1], len(names)))
    bias = np.zeros(len(names))
    for _ in range(epochs):
        z = x @ weights + bias
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) / len(x)
        weights -= learning_rate * (x.T @ grad + l2 * weights)
        bias -= learning_rate * grad.sum(axis=0)
    return weights.astype(np.float32), bias.astype(np.float32)


def probabilities(vectors: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One row of label probabilities per vector."""
    z = vectors @ weights + bias
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def stored_head(cache_dir: Path, key: str, vectors: np.ndarray, labels: Sequence[str],
                names: List[str]) -> Tuple[np.ndarray, np.ndarray]:
    """`train_linear_head` for a fixed bank (the red-flag groups): trained once per `key` (which
    must name everything the weights depend on: the encoder, the texts and their labels), then
    read from `cache_dir` by every process. Training takes seconds; reading, milliseconds."""
    digest = hashlib.sha256("\n".join([key, f"{EPOCHS} {LEARNING_RATE} {L2}", *names, *labels])
                            .encode("utf-8")).hexdigest()
    path = cache_dir / f"head-{digest[:32]}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            if stored["weights"].shape == (vectors.shape[1], len(names)):
                return stored["weights"], stored["bias"]
    except (OSError, ValueError, KeyError):
        pass
    weights, bias = train_linear_head(vectors, labels, names)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, weights=weights, bias=bias)
        os.replace(partial, path)
    except OSError:
        pass  # a read-only install still works, only slower to start
    return weights, bias
