"""The trained model: when it is stale, how to train it, and how to check it before loading.

A model is stale when any file Rasa trains from changed. The inputs' hash is recorded next
to the model, and so is the archive's own hash: Rasa model archives can execute code when
loaded (fixed in 3.6.21 only for models trained on it), so we only ever load an archive from
our own models/ directory whose hash matches what our training run recorded.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from bot.config import paths

# The encoder's pins and converter: the semantic scorer stores the training questions' vectors
# in the model.
# What a trained model depends on: a change to any of these retrains. The answer scorer's
# train() decides what it stores with the model (vectors and its linear head).
TRAINING_INPUTS = ("config.yml", "domain", "data", "bot/encoder/pins.yml", "bot/encoder/graph.py",
                   "bot/encoder/head.py", "bot/knowledge/component.py")
INPUTS_HASH_FILE = paths.MODELS_DIR / "assistant.inputs.sha256"


class ModelIntegrityError(RuntimeError):
    pass


def _files(inputs: Iterable[str]) -> List[Path]:
    out = []
    for name in inputs:
        p = paths.ROOT / name
        out += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    return [p for p in out if "__pycache__" not in p.parts]


def inputs_hash(overrides: Optional[Dict[Path, str]] = None) -> str:
    """The hash of every training input; `overrides` gives some files other contents (the
    knowledge base's generated data rendered from the database: bot/knowledge/retrain.py)."""
    overrides = {Path(p).resolve(): text.encode("utf-8") for p, text in (overrides or {}).items()}
    h = hashlib.sha256()
    import rasa

    h.update(f"rasa {rasa.__version__}\n".encode())
    for p in _files(TRAINING_INPUTS):
        content = overrides.get(p.resolve(), None)
        h.update(str(p.relative_to(paths.ROOT)).encode() + b"\0" + (content if content is not None else p.read_bytes())
                 + b"\0")
    return h.hexdigest()


def recorded_inputs() -> Optional[str]:
    """The inputs hash the model in models/assistant.tar.gz was trained from, if recorded."""
    return INPUTS_HASH_FILE.read_text().strip() if INPUTS_HASH_FILE.exists() else None


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_stale() -> bool:
    if not paths.MODEL_FILE.exists() or not INPUTS_HASH_FILE.exists() or not hash_file_for(paths.MODEL_FILE).exists():
        return True
    return INPUTS_HASH_FILE.read_text().strip() != inputs_hash()


def train(force: bool = False) -> bool:
    """Train when stale (or forced); returns whether a new model was trained."""
    if not force and not is_stale():
        return False
    digest = inputs_hash()
    paths.MODELS_DIR.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "bot.serve.rasa_cli", "train", "--domain", "domain", "--data", "data",
           "--config", "config.yml", "--out", str(paths.MODELS_DIR),
           "--fixed-model-name", "assistant"]
    subprocess.run(cmd, cwd=paths.ROOT, check=True)
    record_hash(paths.MODEL_FILE)
    INPUTS_HASH_FILE.write_text(digest + "\n")
    return True


def hash_file_for(model: Path) -> Path:
    return Path(str(model) + ".sha256")


def record_hash(model: Path) -> None:
    hash_file_for(model).write_text(file_hash(model) + "\n")


def verified_model(path: Path = paths.MODEL_FILE) -> Path:
    """The model path, after checking it is ours and unchanged since training."""
    path = Path(path).resolve()
    models = paths.MODELS_DIR.resolve()
    if models not in path.parents:
        raise ModelIntegrityError(f"refusing to load a model from outside {paths.MODELS_DIR}: {path}")
    recorded = hash_file_for(path)
    if not path.exists() or not recorded.exists():
        raise ModelIntegrityError(f"no trained model with a recorded hash at {path} (run `make train`)")
    if file_hash(path) != recorded.read_text().strip():
        raise ModelIntegrityError(f"{path} does not match the hash recorded when it was trained")
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "stale":
        return 0 if is_stale() else 1
    trained = train(force="--force" in argv)
    print("trained a new model" if trained else "model is up to date; not retraining")
    return 0


if __name__ == "__main__":
    sys.exit(main())
