"""Lower-case the message, fix common misspellings of sign words, and keep a map back to the
original characters so the spans shown to staff point at what the patient actually typed
(every character of the normalised text maps to an index of the original)."""
from __future__ import annotations

import re
import unicodedata
from typing import Dict, Iterable, List, Optional, Set, Tuple

_WORD = re.compile(r"[a-z][a-z']*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_QWERTY = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _neighbours() -> Dict[str, Set[str]]:
    pos = {c: (r, i) for r, row in enumerate(_QWERTY) for i, c in enumerate(row)}
    out: Dict[str, Set[str]] = {c: set() for c in pos}
    for a, (ra, ia) in pos.items():
        for b, (rb, ib) in pos.items():
            if a != b and abs(ra - rb) <= 1 and abs(ia - ib) <= 1:
                out[a].add(b)
    return out


_ADJACENT = _neighbours()


def one_typo_apart(typed: str, word: str) -> bool:
    """True if `typed` is `word` with one slip: a missing, doubled, swapped or neighbouring
    key. Substitutions only count for keys next to each other on the keyboard, which keeps
    real words such as "injection" (f/j are not neighbours) from turning into "infection"."""
    if typed == word:
        return False
    lt, lw = len(typed), len(word)
    if abs(lt - lw) > 1:
        return False
    if lt == lw:
        diffs = [i for i in range(lt) if typed[i] != word[i]]
        if len(diffs) == 1:
            i = diffs[0]
            return typed[i] in _ADJACENT.get(word[i], ())
        if len(diffs) == 2:
            i, j = diffs
            return j == i + 1 and typed[i] == word[j] and typed[j] == word[i]
        return False
    short, long_ = (typed, word) if lt < lw else (word, typed)
    for i in range(len(long_)):
        if long_[:i] + long_[i + 1:] == short:
            return True
    return False


class Normaliser:
    def __init__(self, typos: Dict[str, str], sign_words: Iterable[str], known_words: Iterable[str]):
        self.typos = dict(typos)
        self.targets = sorted({w for w in sign_words if len(w) >= 6})
        self.known = set(known_words) | set(sign_words) | set(self.typos.values())
        self._cache: Dict[str, Optional[str]] = {}

    def _fuzzy(self, word: str) -> Optional[str]:
        if len(word) < 6 or word in self.known or "'" in word:
            return None
        if word not in self._cache:
            hits = [t for t in self.targets if one_typo_apart(word, t)]
            self._cache[word] = hits[0] if len(hits) == 1 else None
        return self._cache[word]

    def __call__(self, text: str) -> Tuple[str, List[int]]:
        """Return the normalised text and, for each of its characters, the index of the
        original character it came from."""
        raw, origin = nfkc_with_origin(text or "")
        raw = raw.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
        lowered = raw.lower()
        if len(lowered) != len(raw):  # rare case-folding length changes: keep it simple
            lowered = "".join(c.lower()[:1] or c for c in raw)
        out: List[str] = []
        offsets: List[int] = []
        pos = 0
        for m in _WORD.finditer(lowered):
            out.append(lowered[pos:m.start()])
            offsets.extend(range(pos, m.start()))
            word = m.group()
            fixed = self.typos.get(word) or self._fuzzy(word) or word
            out.append(fixed)
            offsets.extend(m.start() + min(i, len(word) - 1) for i in range(len(fixed)))
            pos = m.end()
        out.append(lowered[pos:])
        offsets.extend(range(pos, len(lowered)))
        return "".join(out), [origin[o] for o in offsets]


def nfkc_with_origin(text: str) -> Tuple[str, List[int]]:
    """NFKC-normalise `text` and say, for each resulting character, which character of `text`
    it came from. NFKC changes lengths ("ﬁ" -> "fi", "Ǆ" -> "DŽ", "¨" -> " ̈"); normalising the
    whole string at once lost the way back, so spans shown to staff pointed at the wrong
    characters (or past the end). Done per base character with its combining marks; a lone
    surrogate (which cannot be encoded, so spaCy would raise) becomes U+FFFD; invisible format
    characters (zero-width space, soft hyphen, direction marks: category Cf) are dropped, so
    "fe\\u200bver" pasted from a phone is still a fever."""
    text = _SURROGATE.sub("\ufffd", text)
    if unicodedata.is_normalized("NFKC", text) and not INVISIBLE.search(text):
        return text, list(range(len(text)))
    out: List[str] = []
    origin: List[int] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i < len(text) and unicodedata.combining(text[i]):
            continue
        chunk = "".join(c for c in unicodedata.normalize("NFKC", text[start:i]) if not invisible(c))
        out.append(chunk)
        origin.extend([start] * len(chunk))
        start = i
    return "".join(out), origin


# Characters that show nothing: format characters (category Cf: zero-width space and joiners,
# soft hyphen, direction marks) and the other default-ignorable code points (combining
# grapheme joiner, variation selectors, Hangul fillers). Pasted inside a word they hide it
# from the sign rules; between two words, removing them joins the words (the engine also
# reads the message with them as spaces, see TriageEngine.assess).
_IGNORABLE_RANGES = "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef"
_FORMAT = "".join(chr(c) for c in range(0x110000) if 0xD800 > c or c > 0xDFFF if unicodedata.category(chr(c)) == "Cf")
INVISIBLE = re.compile(f"[{re.escape(_FORMAT)}{_IGNORABLE_RANGES}]")


def invisible(char: str) -> bool:
    return bool(INVISIBLE.match(char))


def chunk_end(text: str, index: int) -> int:
    """The end of the character at `index` with the combining marks that follow it."""
    end = index + 1
    while end < len(text) and unicodedata.combining(text[end]):
        end += 1
    return end
