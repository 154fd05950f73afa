"""A deterministic tokenizer for tweets and Reddit comments, and the vocabulary built on its tokens.

Rules, applied in one left-to-right regex pass (no randomness, no model): HTML entities are unescaped;
URLs become ``<url>``, ``@user`` and ``/u/user`` become ``<user>``, ``/r/sub`` becomes ``<subreddit>``,
numbers become ``<num>``, ``#tag`` becomes ``<hashtag> tag``; GoEmotions' masks (``[NAME]``,
``[RELIGION]``) stay one token; emoticons and emoji are kept as tokens; English contractions are split the
Penn-Treebank way (``don't`` -> ``do n't``, ``I'm`` -> ``i 'm``) so they match GloVe/FastText vocabularies;
runs of ``!?.`` stay one token capped at 3 characters (``!!!!!`` -> ``!!!``, ``?!?!`` -> ``?!?``);
letters repeated more than
3 times are capped at 3 (``soooooo`` -> ``sooo``). Everything except emoticons is lowercased.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD = "<pad>"
UNK = "<unk>"

_EMOTICON = (
    r"(?:[<>]?[:;=8xX][\-o\*']?[\)\]\(\[dDpP/\\|@3*]+(?![a-zA-Z0-9])"
    r"|[\)\]\(\[dDpP/\\|@]+[\-o\*']?[:;=8](?![a-zA-Z0-9])"
    r"|<3+|</3|\^_*\^|-_-|o_O|O_o|T_T|;_;)"
)
_EMOJI = (
    "[\U0001f1e6-\U0001f1ff\U0001f300-\U0001f5ff\U0001f600-\U0001f64f\U0001f680-\U0001f6ff"
    "\U0001f700-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2190-\u21ff\u2300-\u23ff]"
)
_TOKEN_RE = re.compile(
    rf"""
    (?P<url>(?:https?://|www\.)\S+)
  | (?P<subreddit>/?\br/[A-Za-z0-9_]+)
  | (?P<user>@[A-Za-z0-9_]+|/?\bu/[A-Za-z0-9_\-]+)
  | (?P<mask>\[[A-Z]+\])
  | (?P<hashtag>\#(?P<tag>[A-Za-z][A-Za-z0-9_]*))
  | (?P<emoticon>{_EMOTICON})
  | (?P<emoji>{_EMOJI})
  | (?P<word>[^\W\d_]+(?:[-'][^\W\d_]+)*)
  | (?P<number>\d+(?:[.,:/]\d+)*(?:st|nd|rd|th|s|k|m|%)?)
  | (?P<punct>[!?.]+|[^\w\s])
    """,
    re.VERBOSE | re.UNICODE,
)
_CONTRACTION_RE = re.compile(r"^(?P<stem>.+?)(?P<suffix>n't|'s|'m|'re|'ve|'ll|'d)$")
_SPECIAL_NT = {
    "can't": ("ca", "n't"),
    "won't": ("wo", "n't"),
    "ain't": ("ai", "n't"),
    "shan't": ("sha", "n't"),
}
_ELONGATION_RE = re.compile(r"([^\W\d_])\1{3,}")


def tokenizer_input(text: str) -> str:
    """The characters the tokenizer reads: NFKC, HTML unescaped, apostrophes unified; case and punctuation kept.

    Not text identity (which texts count as the same: `goemobalance.text.normalize_text`).
    """
    text = html.unescape(unicodedata.normalize("NFKC", text))
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")


def tokenize(text: str) -> list[str]:
    """Split one tweet or comment into normalized tokens (see the module docstring for the rules).

    Parameters
    ----------
    text : str
        One raw text (read through `tokenizer_input`).

    Returns
    -------
    list of str
        The tokens, in text order.
    """
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(tokenizer_input(text)):
        tokens.extend(_emit(match.lastgroup, match))
    return tokens


def _emit(kind: str | None, match: re.Match) -> list[str]:
    value = match.group(0)
    if kind in ("url", "subreddit", "user", "number"):
        return [f"<{kind if kind != 'number' else 'num'}>"]
    if kind == "hashtag":
        return ["<hashtag>", _cap_elongation(match.group("tag").lower())]
    if kind in ("emoticon", "emoji"):
        return [value]
    if kind == "mask":
        return [value.lower()]
    if kind == "punct":
        return [value[:3]]
    return _split_contraction(_cap_elongation(value.lower()))


def _cap_elongation(word: str) -> str:
    return _ELONGATION_RE.sub(lambda m: m.group(1) * 3, word)


def _split_contraction(word: str) -> list[str]:
    if word in _SPECIAL_NT:
        return list(_SPECIAL_NT[word])
    match = _CONTRACTION_RE.match(word)
    if not match:
        return [word]
    return [match.group("stem"), match.group("suffix")]


class Vocabulary:
    """Token <-> id map, ``<pad>`` = 0 and ``<unk>`` = 1; built by frequency, ties broken alphabetically.

    Parameters
    ----------
    tokens : sequence of str
        Every token in id order, starting with ``<pad>``, ``<unk>``; no repeats.

    Attributes
    ----------
    itos : list of str
        Id -> token.
    stoi : dict of str to int
        Token -> id.

    Raises
    ------
    ValueError
        If the specials are not first or a token repeats.
    """

    def __init__(self, tokens: Sequence[str]):
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {list(tokens[:2])}")
        self.itos: list[str] = list(tokens)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary tokens must be unique")

    pad_id = 0
    unk_id = 1

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """Keep tokens seen at least `min_freq` times, the `max_size` most frequent (specials included).

        Parameters
        ----------
        token_lists : iterable of sequences of str
            Tokenized training texts.
        min_freq : int, default 1
            Least occurrences of a kept token.
        max_size : int, optional
            Most entries, the two specials included.

        Returns
        -------
        Vocabulary
            Specials first, then tokens by descending count, ties alphabetical.
        """
        counts = Counter(t for tokens in token_lists for t in tokens)
        ranked = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK)),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([PAD, UNK, *ranked])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids, unknown tokens mapped to ``<unk>``.

        Parameters
        ----------
        tokens : sequence of str
            Tokens of one text.

        Returns
        -------
        list of int
            One id per token.
        """
        return [self.stoi.get(t, self.unk_id) for t in tokens]

    def save(self, path: str | Path) -> None:
        """Write the tokens, in id order, as JSON (``{"tokens": [...]}``).

        Parameters
        ----------
        path : str or Path
            The file to write.
        """
        Path(path).write_text(json.dumps({"tokens": self.itos}, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by `save`.

        Parameters
        ----------
        path : str or Path
            The JSON file.

        Returns
        -------
        Vocabulary

        Raises
        ------
        ValueError
            If the file is not a saved vocabulary.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(data["tokens"])
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a saved Vocabulary ({exc})") from exc


__all__ = ["PAD", "UNK", "Vocabulary", "tokenize", "tokenizer_input"]
