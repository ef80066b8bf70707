"""python -m bot.encoder build   fetch (if needed), check and convert the pinned encoder
python -m bot.encoder check   verify the files and the converted graph, encode one sentence"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from bot.config import paths
from bot.encoder.files import SOURCE_DIR, ensure, sha256_of
from bot.encoder.graph import CONVERTER_VERSION, build_fp32, quantise
from bot.encoder.model import MANIFEST_FILE, MODEL_FILE, EncoderUnavailable, check_manifest


def build() -> None:
    pins = ensure(SOURCE_DIR)
    try:
        check_manifest()
        return  # already converted from these weights
    except EncoderUnavailable:
        pass
    paths.ENCODER_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        build_fp32(SOURCE_DIR, fp32)
        partial = MODEL_FILE.with_suffix(".partial")
        quantise(fp32, partial)
        partial.replace(MODEL_FILE)
    MANIFEST_FILE.write_text(json.dumps({
        "package": f"{pins.package}=={pins.version}",
        "weights_sha256": pins.files["model.safetensors"],
        "onnx_sha256": sha256_of(MODEL_FILE),
        "quantisation": "dynamic int8, per channel, MatMul weights",
        "converter_version": CONVERTER_VERSION,
    }, indent=2) + "\n")
    print(f"encoder converted: {MODEL_FILE}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[0] if argv else "check"
    if cmd == "build":
        build()
        return 0
    if cmd == "check":
        from bot.encoder.model import SentenceEncoder

        vec = SentenceEncoder().encode(["my lips are swelling"])
        print(f"encoder ok: {vec.shape[1]} dimensions")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
