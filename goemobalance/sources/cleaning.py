"""Tweet text cleaning: the row-by-row reference (`CleanOptions.apply`) and its vectorised twin.

`CleanOptions.apply_arrow` gives, row for row, the text `apply` gives (Python's `html.unescape`, then `re`
substitutions with Unicode ``\\s`` and ``\\w``), on a whole Arrow string array. Each step finds the rows it
can change with a numpy scan over the array's bytes, runs a cheap Arrow kernel on the common case, and the
reference step itself (Python) on the few rows outside it:

- HTML entities: rows holding an ``&``; the five common entities (``&amp;`` ``&lt;`` ``&gt;`` ``&quot;``
  ``&#39;``) by literal replacement; `html.unescape` for rows with any other character reference.
- URLs: rows holding ``://`` or ``ww.`` (any case), as every URL the pattern matches does; RE2 on those.
- Mentions: rows holding an ``@``. In ASCII rows where every ``@`` starts the text or follows a byte that
  is not a word character, the lookbehind holds and RE2's ``@[A-Za-z0-9_]+`` (found by a fast scan for the
  literal ``@``) is the whole pattern; other rows (non-ASCII, or an ``@`` after a word character) use `re`.
- Whitespace: runs of plain spaces are collapsed by dropping bytes in one numpy pass; rows holding another
  whitespace character (a control byte or a lead byte of a non-ASCII space) then use `re`.

RE2 patterns with Unicode classes (``\\p{L}``) are avoided: Arrow compiles a pattern on every call, and
those take milliseconds to compile, more than the rows they would serve. On 1.6M tweets the cleaning takes
about half the CPU time of the general RE2 patterns on every row (2.3 s instead of 4.2; docs/benchmarks.md).
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goemobalance.sources.bytescan import (
    byte_is,
    non_ascii,
    replace_in_python,
    replace_rows,
    row_of,
    rows_where,
    unique_sorted,
    value_buffer,
)

# Python's Unicode whitespace (the URL pattern's \S, spelled out for RE2, whose \s is ASCII).
_PY_SPACE = r"\t\n\x{0b}\f\r\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000} "
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_SPACES = re.compile(r"\s+")
_URL_RE2 = rf"(?i)(?:https?://|www\.)[^{_PY_SPACE}]+"
# A mention in an ASCII text where the byte before the @ is not a word character (or there is none).
_ASCII_MENTION_RE2 = r"@[A-Za-z0-9_]+"
# Where `html.unescape` sees a character reference (the start of every match of its pattern), and the
# common entities, `&amp;` last: replacing it first would make new entities of `&amp;lt;`.
_ENTITY_START_RE2 = r"&(?:#[0-9]|#[xX][0-9a-fA-F]|[^\t\n\f <&#;])"
_COMMON_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&"))
_COMMON_ENTITY_RE2 = "&(?:lt|gt|quot|#39|amp);"
# Bytes that are ASCII word characters (letters, digits, _).
_ASCII_WORD = np.zeros(256, dtype=bool)
_ASCII_WORD[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")] = True
# The UTF-8 encodings of Python's whitespace other than " " start with a byte below 0x20 (\t \n \v \f \r,
# 0x1c-0x1f) or one of 0xc2 (U+0085, U+00A0), 0xe1 (U+1680), 0xe2 (U+2000-U+205F), 0xe3 (U+3000).
_OTHER_SPACE_LEADS = (0xC2, 0xE3)


@dataclass(frozen=True)
class CleanOptions:
    """Which cleaning steps to apply to tweet text; the options used are stored in each row's meta.

    Parameters
    ----------
    urls : bool, default True
        Replace URLs with `url_token`.
    mentions : bool, default True
        Replace ``@user`` mentions with `mention_token`.
    html_entities : bool, default True
        Unescape HTML entities (``&amp;`` -> ``&``), before the URL step.
    whitespace : bool, default True
        Collapse runs of whitespace to one space and trim the ends.
    url_token : str, default ""
        Inserted literally for each URL.
    mention_token : str, default ""
        Inserted literally for each mention.
    keep_raw_text : bool, default True
        Keep the original text in ``meta["raw_text"]`` of rows that cleaning changed.
    """

    urls: bool = True
    mentions: bool = True
    html_entities: bool = True
    whitespace: bool = True
    url_token: str = ""
    mention_token: str = ""
    keep_raw_text: bool = True

    def apply(self, text: str) -> str:
        """The cleaned text (HTML entities first, so ``&amp;`` inside URLs is resolved before URL removal).

        Tokens are inserted literally. This is the reference for `apply_arrow`, which loaders use.

        Parameters
        ----------
        text : str
            One tweet.

        Returns
        -------
        str
        """
        if self.html_entities:
            text = html.unescape(text)
        if self.urls:
            text = _URL.sub(lambda _: self.url_token, text)
        if self.mentions:
            text = _MENTION.sub(lambda _: self.mention_token, text)
        if self.whitespace:
            text = _SPACES.sub(" ", text).strip()
        return text

    def apply_arrow(self, texts: pa.Array) -> pa.Array:
        """`apply` on a whole string array with Arrow and numpy kernels (same result, row for row).

        Parameters
        ----------
        texts : pyarrow.Array
            A string array of tweets.

        Returns
        -------
        pyarrow.Array
            The cleaned strings, row for row.
        """
        if len(texts) == 0:
            return texts
        if self.html_entities:
            texts = unescape_html(texts)
        if self.urls:
            texts = replace_urls(texts, self.url_token)
        if self.mentions:
            texts = replace_mentions(texts, self.mention_token)
        if self.whitespace:
            texts = collapse_whitespace(texts)
        return texts

    def to_dict(self) -> dict:
        """The options as a JSON-ready dict (stored as ``meta["cleaning"]``).

        Returns
        -------
        dict
            Field name -> value.
        """
        return asdict(self)


def unescape_html(texts: pa.Array) -> pa.Array:
    """``html.unescape`` of every string: literal replacements for the common entities, Python for the rest."""
    rows = rows_where(texts, byte_is(ord("&")))
    if rows.size == 0:
        return texts
    subset = texts.take(pa.array(rows))
    unescaped = subset
    for entity, character in _COMMON_ENTITIES:
        unescaped = pc.replace_substring(unescaped, entity, character)
    rare = np.flatnonzero(_holds_rare_entity(subset))
    unescaped = replace_in_python(unescaped, rare, html.unescape, subset)
    return replace_rows(texts, rows, unescaped)


def replace_urls(texts: pa.Array, token: str) -> pa.Array:
    """`CleanOptions.apply`'s URL step: URLs replaced by `token`, on the rows that can hold one."""
    return replace_regex_in_rows(texts, _url_rows(texts), _URL_RE2, _re2_literal(token))


def replace_mentions(texts: pa.Array, token: str) -> pa.Array:
    """`CleanOptions.apply`'s mention step: ``@user`` not preceded by a word character replaced by `token`."""
    simple, other = _mention_rows(texts)
    texts = replace_regex_in_rows(texts, simple, _ASCII_MENTION_RE2, _re2_literal(token))
    return replace_in_python(texts, other, lambda text: _MENTION.sub(lambda _: token, text))


def collapse_whitespace(texts: pa.Array) -> pa.Array:
    """`CleanOptions.apply`'s whitespace step: every whitespace run one plain space, the ends trimmed."""
    texts = _collapse_plain_spaces(texts)
    texts = replace_in_python(texts, _other_space_rows(texts), lambda text: _SPACES.sub(" ", text))
    return pc.utf8_trim(texts, " ")


def replace_regex_in_rows(texts: pa.Array, rows: np.ndarray, pattern: str, replacement: str) -> pa.Array:
    """`texts` with `pattern` replaced in the rows `rows` (ascending) only: the others cannot match."""
    if rows.size == 0:
        return texts
    replaced = pc.replace_substring_regex(texts.take(pa.array(rows)), pattern, replacement)
    return replace_rows(texts, rows, replaced)


def _holds_rare_entity(texts: pa.Array) -> np.ndarray:
    """Rows where `html.unescape` sees a character reference other than the five common ones."""
    starts = pc.count_substring_regex(texts, _ENTITY_START_RE2)
    return np.asarray(pc.not_equal(starts, pc.count_substring_regex(texts, _COMMON_ENTITY_RE2)))


def _url_rows(texts: pa.Array) -> np.ndarray:
    """Rows holding ``://`` or ``ww.`` in any case (a superset of those the URL pattern matches)."""
    data, offsets = _bytes(texts)
    colons = np.flatnonzero(data[:-2] == ord(":"))
    colons = colons[(data[colons + 1] == ord("/")) & (data[colons + 2] == ord("/"))]
    dots = np.flatnonzero(data[2:] == ord(".")) + 2
    dots = dots[((data[dots - 1] | 0x20) == ord("w")) & ((data[dots - 2] | 0x20) == ord("w"))]
    return np.union1d(row_of(offsets, colons), row_of(offsets, dots))


def _mention_rows(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Rows holding an ``@``: ASCII ones where every ``@`` starts the text or follows a byte that is not
    a word character, and the others."""
    data, offsets = _bytes(texts)
    at = np.flatnonzero(data == ord("@"))
    rows = row_of(offsets, at)
    inner = at > offsets[rows]
    other = np.zeros(at.size, dtype=bool)
    other[inner] = _ASCII_WORD[data[at[inner] - 1]]
    non_ascii_rows = np.zeros(len(texts), dtype=bool)
    non_ascii_rows[rows_where(texts, non_ascii)] = True
    other |= non_ascii_rows[rows]
    other_rows = unique_sorted(rows[other])
    return np.setdiff1d(unique_sorted(rows), other_rows, assume_unique=True), other_rows


def _collapse_plain_spaces(texts: pa.Array) -> pa.Array:
    """Every run of plain spaces made one space: the bytes of the run after its first are dropped."""
    data, offsets = _bytes(texts)
    space = data == ord(" ")
    drop = np.zeros(data.size, dtype=bool)
    np.logical_and(space[1:], space[:-1], out=drop[1:])
    starts = offsets[:-1]
    drop[starts[starts < data.size]] = False
    dropped = np.flatnonzero(drop)
    if dropped.size == 0:
        return texts
    offset_type = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    new_offsets = (offsets - np.searchsorted(dropped, offsets)).astype(offset_type)
    buffers = [None, pa.py_buffer(new_offsets), pa.py_buffer(data[~drop])]
    collapsed = pa.Array.from_buffers(texts.type, len(texts), buffers)
    return collapsed if texts.null_count == 0 else pc.if_else(pc.is_valid(texts), collapsed, None)


def _other_space_rows(texts: pa.Array) -> np.ndarray:
    """Rows holding a byte that starts whitespace other than the plain space (and some non-space bytes)."""
    data, offsets = _bytes(texts)
    low, high = _OTHER_SPACE_LEADS
    candidates = (data < 0x20) | ((data - np.uint8(low)) <= high - low)
    return unique_sorted(row_of(offsets, np.flatnonzero(candidates)))


def _bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of the values of `texts` and their offsets into them (starting at 0)."""
    data, offsets = value_buffer(texts)
    data = data[offsets[0] : offsets[-1]]
    return data, (offsets - offsets[0]).astype(np.int64)


def _re2_literal(token: str) -> str:
    """A replacement string for Arrow's RE2 kernels that inserts `token` literally."""
    return token.replace("\\", "\\\\")
