"""BERT's uncased WordPiece tokenizer, as the model's tokenizer.json describes it.

Written out (about sixty lines) rather than taken from the `tokenizers` package so that the
Rasa environment gains no dependency for it; tests compare its ids with the reference
library's on a fixture of awkward text (accents, emoji, typos, CJK, long words).
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Dict, List

MAX_WORD_CHARS = 100


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _normalise(text: str) -> str:
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            out.append(" ")
        elif cat in ("Cc", "Cf"):
            continue
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return text.lower()


def _pre_tokenise(text: str) -> List[str]:
    words: List[str] = []
    for chunk in text.split():
        current = ""
        for ch in chunk:
            if _is_punctuation(ch):
                if current:
                    words.append(current)
                    current = ""
                words.append(ch)
            else:
                current += ch
        if current:
            words.append(current)
    return words


class WordPiece:
    def __init__(self, vocab: Dict[str, int]):
        self.vocab = vocab
        self.unk = vocab["[UNK]"]
        self.cls = vocab["[CLS]"]
        self.sep = vocab["[SEP]"]

    @classmethod
    def from_tokenizer_json(cls, path: Path) -> "WordPiece":
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        model = spec["model"]
        if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix") != "##":
            raise ValueError(f"{path}: not a '##' WordPiece tokenizer")
        norm = spec.get("normalizer") or {}
        if norm.get("type") != "BertNormalizer" or not norm.get("lowercase"):
            raise ValueError(f"{path}: not BERT's lowercasing normaliser")
        return cls(model["vocab"])

    def _word_ids(self, word: str) -> List[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def ids(self, text: str, max_tokens: int) -> List[int]:
        """[CLS] pieces [SEP], truncated to max_tokens in all."""
        pieces: List[int] = []
        for word in _pre_tokenise(_normalise(text)):
            pieces.extend(self._word_ids(word))
        return [self.cls] + pieces[: max_tokens - 2] + [self.sep]
