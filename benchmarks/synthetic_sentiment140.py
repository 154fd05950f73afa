"""A Sentiment140-format file of any size, made from the real sample with fresh tweet ids.

The lines of the shared 38,915-tweet sample (``../shared/data/sentiment140/training_sample.csv``) are
repeated, each repetition in a fresh seeded order, and every output line gets a new unique tweet id
(``3000000000 + row``), so the loader's duplicate-id check passes and the text mix (UTF-8, latin-1, quotes,
URLs, mentions) is that of the real file. The bytes of every field but the id are copied unchanged.

    python benchmarks/synthetic_sentiment140.py OUT.csv N_ROWS [--seed 0]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

SAMPLE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sentiment140" / "training_sample.csv"
)
FIRST_ID = 3_000_000_000
_ID_FIELD = re.compile(rb'^("[^"]*",)"[^"]*"(,.*)$', re.DOTALL)


def write_sentiment140(path: str | Path, n_rows: int, seed: int = 0, sample: str | Path = SAMPLE) -> Path:
    """Write `n_rows` Sentiment140 lines to `path` (the sample's lines, reshuffled per pass, fresh ids).

    Parameters
    ----------
    path : str or Path
        The CSV file to write (replaced if it exists).
    n_rows : int
        How many lines to write; more than the sample holds repeats it with new ids.
    seed : int
        Seed of the order of each pass over the sample.
    sample : str or Path
        A Sentiment140 CSV (quoted ``polarity,id,date,query,user,text``, no header).

    Returns
    -------
    Path
        `path`.
    """
    heads, tails = _split_sample(Path(sample))
    rng = np.random.default_rng(seed)
    path = Path(path)
    with open(path, "wb") as out:
        written = 0
        while written < n_rows:
            order = rng.permutation(len(heads))[: n_rows - written]
            out.write(
                b"".join(
                    heads[i] + b'"%d"' % (FIRST_ID + written + k) + tails[i] + b"\n"
                    for k, i in enumerate(order.tolist())
                )
            )
            written += len(order)
    return path


def _split_sample(sample: Path) -> tuple[list[bytes], list[bytes]]:
    """Each sample line cut around its id field: (``"polarity",``, ``,"date",...,"text"``)."""
    heads, tails = [], []
    lines = sample.read_bytes().split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        match = _ID_FIELD.match(line)
        if match is None:
            raise ValueError(f"{sample}, line {number}: not a quoted Sentiment140 line")
        heads.append(match.group(1))
        tails.append(match.group(2))
    return heads, tails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("n_rows", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", default=str(SAMPLE))
    args = parser.parse_args()
    write_sentiment140(args.out, args.n_rows, seed=args.seed, sample=args.sample)


if __name__ == "__main__":
    main()
