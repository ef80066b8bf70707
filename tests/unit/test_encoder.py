"""The shared sentence encoder against the reference library, and its integrity checks.

tests/fixtures/encoder_reference.json holds token ids and vectors produced once by
sentence-transformers (torch, fp32) from the same pinned wheel (scripts/encoder-reference.py).
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.encoder.files import SOURCE_DIR, EncoderFilesError, Pins, verify
from bot.encoder.model import MANIFEST_FILE, MODEL_FILE, EncoderUnavailable, SentenceEncoder, check_manifest
from bot.encoder.wordpiece import WordPiece

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "encoder_reference.json").read_text())


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder()


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=[c["text"][:30] for c in REFERENCE["cases"]])
def test_wordpiece_gives_the_reference_token_ids(case):
    tokenizer = WordPiece.from_tokenizer_json(SOURCE_DIR / "tokenizer.json")
    assert tokenizer.ids(case["text"], 256) == case["ids"]


def test_int8_vectors_stay_close_to_the_reference(encoder):
    texts = [c["text"] for c in REFERENCE["cases"]]
    ours = encoder.encode(texts)
    cosines = [float(np.dot(v, np.array(c["vector"], dtype=np.float32)))
               for v, c in zip(ours, REFERENCE["cases"])]
    # int8 weights: each vector within a few hundredths of fp32, on average closer.
    assert min(cosines) >= 0.96, cosines
    assert float(np.mean(cosines)) >= 0.98, cosines
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_packing_several_texts_changes_little(encoder):
    texts = [c["text"] for c in REFERENCE["cases"][:6]]
    packed = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    # Activations are quantised per pass, so a packed text is not bit-identical to one alone.
    assert float(np.min(np.sum(packed * alone, axis=1))) >= 0.95


def test_the_encoder_ranks_meaning_above_words(encoder):
    airway, question, lay = encoder.encode([
        "my throat is closing up", "which shampoo is best for dandruff",
        "it feels like something is squeezing my neck from inside and I can't swallow"])
    assert float(lay @ airway) > float(lay @ question) + 0.2


def test_a_changed_weight_file_is_refused(tmp_path):
    copy = tmp_path / "source"
    shutil.copytree(SOURCE_DIR, copy)
    config = copy / "config.json"
    config.write_text(config.read_text().replace("384", "385", 1))
    with pytest.raises(EncoderFilesError, match="config.json.*SHA-256"):
        verify(copy)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(EncoderFilesError, match="missing"):
        verify(copy, Pins.load())


def test_a_converted_graph_that_differs_from_its_build_is_refused(tmp_path):
    model = tmp_path / "model.onnx"
    data = bytearray(MODEL_FILE.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(EncoderUnavailable, match="refusing to load"):
        check_manifest(model, MANIFEST_FILE)
    assert check_manifest()["weights_sha256"] == Pins.load().files["model.safetensors"]


def test_nothing_is_fetched_when_loading(monkeypatch):
    # Loading must work with the network closed: the files come from the install step.
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the encoder tried to open a network connection at load")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert SentenceEncoder().encode(["fine"]).shape == (1, 384)
