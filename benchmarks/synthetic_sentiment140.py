"""A Sentiment140-format file of any size, made from the shared 38,915-row sample with fresh tweet ids.

The real file has 1.6M rows; benchmarks need that scale (and more) without it. Each output row is a
sample row, byte for byte (polarity, date, query, user and text, in the sample's mix of UTF-8 and latin-1),
with its tweet id replaced by a fresh unique one, so a loader that rejects duplicate ids reads every row.

    python benchmarks/synthetic_sentiment140.py OUT.csv 1600000 [--seed 0] [--sample PATH]
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GOEMOBALANCE_SHARED_DATA", REPO.parent / "shared" / "data"))
SAMPLE = SHARED_DATA / "sentiment140" / "training_sample.csv"
#: Fresh ids start above every real Sentiment140 id (the largest is about 2.33e9).
FIRST_ID = 10_000_000_000
_ID_FIELD = re.compile(rb'^("[^"]*",)"\d+"')


def write_sentiment140(path: str | Path, n_rows: int, seed: int = 0, sample: str | Path = SAMPLE) -> Path:
    """Write `n_rows` Sentiment140 lines made from `sample`, repeated with fresh tweet ids.

    Parameters
    ----------
    path : str or Path
        Output CSV (no header, every field quoted, ``\\n`` line ends, like the original file).
    n_rows : int
        Number of rows to write.
    seed : int
        Seeds the order of the sample rows within each repetition (ids stay unique and increasing).
    sample : str or Path
        A Sentiment140 file to draw rows from (default: the shared 38,915-row sample).

    Returns
    -------
    Path
        `path`.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    lines = [line for line in Path(sample).read_bytes().split(b"\n") if line.strip()]
    heads, tails = _split_at_id(lines)
    rng = np.random.default_rng(seed)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        for start in range(0, n_rows, len(lines)):
            count = min(len(lines), n_rows - start)
            order = rng.permutation(len(lines))[:count]
            handle.write(
                b"".join(
                    b'%s"%d"%s\n' % (heads[i], FIRST_ID + start + k, tails[i]) for k, i in enumerate(order)
                )
            )
    return out


def _split_at_id(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Each line cut around its quoted tweet id: (the polarity field and comma, the rest after the id)."""
    heads, tails = [], []
    for number, line in enumerate(lines, start=1):
        match = _ID_FIELD.match(line)
        if match is None:
            raise ValueError(f"sample line {number} does not start with a quoted polarity and tweet id")
        heads.append(match.group(1))
        tails.append(line[match.end() :])
    return heads, tails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("n_rows", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", default=str(SAMPLE))
    args = parser.parse_args()
    write_sentiment140(args.path, args.n_rows, args.seed, args.sample)


if __name__ == "__main__":
    main()
