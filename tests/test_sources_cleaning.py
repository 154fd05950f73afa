"""The vectorised tweet cleaning (`CleanOptions.apply_arrow`) against its row-by-row reference (`apply`).

Each step of `apply_arrow` runs a cheap kernel on the rows a byte scan picks and the Python reference on
the rest; these rows sit on the edges of those choices (entities, @ after every kind of character, every
Unicode whitespace character), mixed with rows that need nothing, so a wrong routing changes some text.
"""

from __future__ import annotations

import json
import sys

import pyarrow as pa
import pytest

from goemobalance.sources import CleanOptions, load_sentiment140
from goemobalance.sources.records import json_string_bodies

ENTITY_ROWS = [
    "&amp;", "fish &amp; chips", "&lt;3 you", "a &gt; b", "&quot;quoted&quot;", "it&#39;s", "&amp;lt;",
    "&amp;amp;", "&&amp;", "a & b", "trailing &", "&", "&&", "&;", "&#", "&#x", "&nbsp;x", "caf&eacute;",
    "&#8217;", "&#x27;", "&#X27;", "&copy 2009", "&ampfoo", "&lt3", "&#39", "&#039;", "&AMP;", "&Amp;",
    "&amp; then &nbsp;", "&lt;&gt;&quot;&#39;&amp;", "a&b", "&#0;", "&#128;", "&#xD800;", "&semi;&amp;",
]  # fmt: skip
URL_ROWS = [
    "see http://a.b/c?x=1&amp;y=2 now", "HTTPS://X.COM/Y end", "WwW.example.com", "ftp://x.org", "www.",
    "a://b", "httpſ://x.y long s", "go http://x.y\u00a0after", "http://x\tnext", "end http://x.y",
    "http://", "twowww.x", "http://a http://b", "\u00e9http://x.y", "x.www.y",
]  # fmt: skip
MENTION_ROWS = [
    "@user at start", "hi @user!", "(@user)", "a@b.com", "x@@y", "@@y", "@", "@ alone", "@user@other",
    "é@user", "@josé ok", "@user… more", "@Ünïcode", "@user_1 rest", "__@user", "-@user", "@user's",
    "@1234", "🙂@user", "@user\u00a0x", "1@user", "_@user", "\u0663@user", "x\u2026@user", "@_", "@ü",
    "mail me@home.com or @me", "@a @b @c", "@a,@b", "@a\t@b", "RT@user", "(@@user)",
]  # fmt: skip
SPACE_ROWS = [
    "a  b", "  lead", "trail  ", "a\tb", "a \t b", "a\nb", "a\u00a0b", "a\u2009b", "a\u3000b", "a\u1680b",
    "a\x1cb", "a\x85b", "a\u200bb", "a\u180eb", "a\u2028b", "a\u202fb", "a\u205fb", "a\x0bb", "a\x0cb",
    "a\rb", "     ", " ", "", "\u00a0", "a     b", "a \u00a0 b", "x \u00e9  y", "\x00a  b", "a\x1fb",
]  # fmt: skip
PLAIN_ROWS = ["nothing to do here", "ok", "just words, no marks.", "émoji 🙂 fine"]
OPTIONS = [
    CleanOptions(),
    CleanOptions(url_token="<url>", mention_token="@user"),
    CleanOptions(url_token="\\1 \\\\", mention_token="\\0$1"),
    CleanOptions(html_entities=False),
    CleanOptions(urls=False, whitespace=False),
    CleanOptions(mentions=False),
    CleanOptions(html_entities=False, urls=False, mentions=False),
]


def _interleaved(rows: list[str]) -> list[str]:
    """`rows` with rows that need no cleaning between them, so every step works on a subset."""
    out = []
    for index, row in enumerate(rows):
        out += [PLAIN_ROWS[index % len(PLAIN_ROWS)], row]
    return out


def _check(options: CleanOptions, rows: list[str]) -> None:
    got = options.apply_arrow(pa.array(rows, pa.string())).to_pylist()
    expected = [options.apply(row) for row in rows]
    assert [(row, g) for row, g in zip(rows, got) if g != options.apply(row)] == []
    assert got == expected


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: json.dumps(o.to_dict(), sort_keys=True))
def test_apply_arrow_matches_apply_on_rows_at_the_edge_of_every_fast_path(options):
    """Bugs caught: `&amp;` replaced before `&lt;` (`&amp;lt;` -> `<`), rows with other entities left to the
    literal replacements, the ASCII mention pattern on a row where an @ follows a word character or a
    non-ASCII one (`a@b.com`, `é@user`, `@josé`), a whitespace byte scan that misses a lead byte, tokens
    with backslashes read as group references."""
    rows = _interleaved(ENTITY_ROWS + URL_ROWS + MENTION_ROWS + SPACE_ROWS)
    _check(options, rows)
    _check(options, rows[::-1])


def test_apply_arrow_on_a_sliced_array_and_on_empty_and_null_values():
    """Bug caught: byte scans that read the buffer from 0 instead of the array's offset."""
    options = CleanOptions()
    rows = _interleaved(MENTION_ROWS + SPACE_ROWS)
    sliced = pa.array(["@skip  me", *rows, "tail  @x"], pa.string()).slice(1, len(rows))
    assert options.apply_arrow(sliced).to_pylist() == [options.apply(row) for row in rows]
    assert options.apply_arrow(pa.array([], pa.string())).to_pylist() == []
    with_nulls = pa.array(["a  @b", None, "x &amp;  y", None, "\u00a0z"], pa.string())
    assert options.apply_arrow(with_nulls).to_pylist() == ["a", None, "x & y", None, "z"]


def test_every_python_whitespace_character_collapses_like_re():
    """Every character `str.isspace` calls whitespace, alone, doubled and next to plain spaces."""
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() and c != 0x20]
    assert len(spaces) > 20
    rows = []
    for space in spaces:
        rows += [
            f"a{space}b",
            f"a {space} b",
            f"{space}x{space}",
            space * 2,
            f"@u{space}@v{space}http://x{space}",
        ]
    _check(CleanOptions(whitespace=True, urls=True, mentions=True, html_entities=False), _interleaved(rows))


def test_mention_lookbehind_for_every_ascii_character_and_some_unicode_ones():
    """The character before an @ decides whether it starts a mention (Python's Unicode \\w)."""
    before = [chr(c) for c in range(0x20, 0x7F)] + list(
        "éß\u01c5\u0663\u2026\u2014🙂\u00a0\u3000\u00aa\u00b2"
    )
    rows = [f"{ch}@user end" for ch in before] + [f"x{ch}@user{ch}more" for ch in before]
    _check(CleanOptions(), _interleaved(rows))
    _check(CleanOptions(mention_token="<m>"), rows)


@pytest.mark.parametrize(
    "options", OPTIONS[:3] + OPTIONS[5:6], ids=["default", "tokens", "backslashes", "no-mentions"]
)
def test_apply_arrow_matches_apply_on_the_real_sample(sentiment140_sample, options):
    texts = load_sentiment140(sentiment140_sample, on_error="skip").data.column("text").combine_chunks()
    got = options.apply_arrow(texts).to_pylist()
    assert got == [options.apply(text) for text in texts.to_pylist()]


def test_json_string_bodies_escape_like_json_dumps():
    """Bugs caught: quotes escaped before backslashes (`\\"` -> `\\\\\\"`), control characters left to the
    literal replacements, the splice path (few rows) and the mask path (many rows) disagreeing."""
    tricky = [
        'say "hi"',
        "back\\slash",
        '\\"',
        "tab\there",
        "new\nline",
        "nul\x00",
        "\x1f",
        'both \\ " \n',
        'é"ü',
    ]
    for rows in (_interleaved(tricky), _interleaved(tricky * 12), [None, *tricky, None]):
        got = json_string_bodies(pa.array(rows, pa.string())).to_pylist()
        assert got == [None if r is None else json.dumps(r, ensure_ascii=False)[1:-1] for r in rows]
    sliced = pa.array(['"x', *tricky], pa.string()).slice(1)
    assert json_string_bodies(sliced).to_pylist() == [json.dumps(r, ensure_ascii=False)[1:-1] for r in tricky]


def test_collapsing_spaces_stops_at_the_start_of_each_row():
    """A row that starts with a space after a row that ends with one keeps it (the trim removes it later)."""
    from goemobalance.sources.cleaning import _collapse_plain_spaces

    rows = ["x ", " y", "  z  ", "", " ", "a  b"]
    assert _collapse_plain_spaces(pa.array(rows)).to_pylist() == ["x ", " y", " z ", "", " ", "a b"]
