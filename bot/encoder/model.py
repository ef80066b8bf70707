"""The shared sentence encoder: all-MiniLM-L6-v2, int8, on ONNX Runtime with one thread.

    enc = shared_encoder()
    vectors = enc.encode(["my lips are swelling up", "what are exosomes?"])  # (2, 384), unit length

Several texts go through in one pass: they are packed into one row and a block-diagonal
attention bias keeps each to itself, with its own positions, so each gets the vector it would
get alone (mean of its tokens' last hidden states, then L2-normalised, as sentence-transformers
pools this model). Used by triage (each clause of a message against the red-flag bank) and by
answer selection (each sentence against the knowledge base's questions); one message is
encoded once per process (`encode_cached`).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from bot.config import paths
from bot.encoder.files import SOURCE_DIR, Pins, sha256_of, verify
from bot.encoder.wordpiece import WordPiece

MODEL_FILE = paths.ENCODER_DIR / "minilm-l6-int8.onnx"
MANIFEST_FILE = paths.ENCODER_DIR / "manifest.json"
CACHE_DIR = paths.ENCODER_DIR / "cache"
MAX_TOKENS = 256          # sentence-transformers' max_seq_length for this model
PACK_TOKENS = 512         # longest packed row (positions restart per text, so any length works)
DIM = 384
NEG = np.float32(-1e4)


class EncoderUnavailable(RuntimeError):
    pass


def check_manifest(model_file: Path = MODEL_FILE, manifest_file: Path = MANIFEST_FILE) -> dict:
    """The converted graph must be the one `python -m bot.encoder build` wrote from the pinned
    weights: its hash is recorded at build and checked here."""
    if not model_file.is_file() or not manifest_file.is_file():
        raise EncoderUnavailable(f"no converted encoder at {model_file} (run `make install`)")
    manifest = json.loads(manifest_file.read_text())
    from bot.encoder.graph import CONVERTER_VERSION

    if manifest.get("converter_version") != CONVERTER_VERSION:
        raise EncoderUnavailable(f"{model_file} was written by converter version {manifest.get('converter_version')}, "
                                 f"this code writes {CONVERTER_VERSION}: run `python -m bot.encoder build`")
    pins = Pins.load()
    if manifest.get("weights_sha256") != pins.files["model.safetensors"]:
        raise EncoderUnavailable(f"{model_file} was converted from other weights than the pinned ones; "
                                 "run `python -m bot.encoder build`")
    actual = sha256_of(model_file)
    if actual != manifest.get("onnx_sha256"):
        raise EncoderUnavailable(f"{model_file} has SHA-256 {actual}, the build recorded "
                                 f"{manifest.get('onnx_sha256')}: refusing to load it")
    return manifest


class SentenceEncoder:
    def __init__(self, model_file: Path = MODEL_FILE, source_dir: Path = SOURCE_DIR,
                 threads: int = 1):
        import onnxruntime as ort

        verify(source_dir)
        self.onnx_sha256 = check_manifest(model_file)["onnx_sha256"]
        self.tokenizer = WordPiece.from_tokenizer_json(source_dir / "tokenizer.json")
        options = ort.SessionOptions()
        # One thread: the server runs many conversations at once, and a thread pool per
        # message would only make them wait for each other.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()
        self.encode_cached = lru_cache(maxsize=1024)(self._encode_one)

    def _run(self, blocks: List[List[int]]) -> List[np.ndarray]:
        ids = np.fromiter((t for b in blocks for t in b), dtype=np.int64)[None, :]
        positions = np.concatenate([np.arange(len(b), dtype=np.int64) for b in blocks])[None, :]
        total = ids.shape[1]
        bias = np.full((1, 1, total, total), NEG, dtype=np.float32)
        spans: List[Tuple[int, int]] = []
        start = 0
        for b in blocks:
            end = start + len(b)
            bias[0, 0, start:end, start:end] = 0.0
            spans.append((start, end))
            start = end
        with self._lock:  # an ORT session is thread-safe, but one thread each keeps CPU use flat
            hidden = self.session.run(["hidden"], {"input_ids": ids, "position_ids": positions,
                                                   "attention_bias": bias})[0][0]
        out = []
        for a, b in spans:
            v = hidden[a:b].mean(axis=0)
            out.append(v / max(float(np.linalg.norm(v)), 1e-12))
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text, in order."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        blocks = [self.tokenizer.ids(t, MAX_TOKENS) for t in texts]
        vectors: List[np.ndarray] = []
        batch: List[List[int]] = []
        size = 0
        for block in blocks:
            if batch and size + len(block) > PACK_TOKENS:
                vectors += self._run(batch)
                batch, size = [], 0
            batch.append(block)
            size += len(block)
        if batch:
            vectors += self._run(batch)
        return np.vstack(vectors).astype(np.float32)

    def encode_stored(self, texts: Sequence[str]) -> np.ndarray:
        """`encode` for a fixed bank (red-flag descriptions, rivals): computed once per set of
        texts and encoder, then read from models/encoder/cache/ by every process."""
        digest = hashlib.sha256(("\n".join([self.onnx_sha256, *texts])).encode("utf-8")).hexdigest()
        path = CACHE_DIR / f"{digest[:32]}.npy"
        try:
            stored = np.load(path, allow_pickle=False)
            if stored.shape == (len(texts), DIM):
                return stored
        except (OSError, ValueError):
            pass
        vectors = self.encode(texts)
        try:
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
            np.save(partial, vectors)
            os.replace(partial, path)
        except OSError:
            pass  # a read-only install still works, only slower to start
        return vectors

    def _encode_one(self, texts: Tuple[str, ...]) -> np.ndarray:
        out = self.encode(list(texts))
        out.setflags(write=False)
        return out


@lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process, shared by triage and answer selection."""
    return SentenceEncoder()
