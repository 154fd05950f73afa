"""Resident pages of memory-mapped Arrow files: handing them back while a pass over millions of rows runs.

A `datasets.Dataset` loaded from disk reads its Arrow files through read-only memory maps. Every page a
pass touches (a `map`, a `save_to_disk`, a `select` written out) then stays in the process's resident
memory until the file is unmapped, so one pass over the 1.6 GB pool of a 1.6M-tweet build adds 1.6 GB to
its RSS although nothing is allocated: the pages are the kernel's page cache, only mapped. `pages_released`
drops those mappings of the files behind the datasets it is given, twenty times a second while a block runs
and once at its end (``madvise(MADV_DONTNEED)``, Linux). The data stays in the page cache; a page read
again is mapped again on access (a minor fault), so the results are the same and the process's RSS shows
what it really holds: the arrays it allocated, and the pages of the batch at hand.

Only read-only mappings of files that hold a buffer of the given tables are released, while this module
holds references to those tables (so the mappings cannot be unmapped and reused meanwhile); memory of
in-memory tables is never touched. Elsewhere than on Linux the functions do nothing.
"""

from __future__ import annotations

import bisect
import ctypes
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import datasets
import pyarrow as pa

#: ``madvise`` advice that drops a range's pages from this process (they stay in the page cache).
MADV_DONTNEED = 4
#: Seconds between two releases while a block of `pages_released` runs (a `select` of rows spread over a
#: file, written out, maps about 64 KB around every row it reads: several hundred MB in 0.2 s).
RELEASE_EVERY = 0.05


def mapped_files(items: Iterable[Any]) -> list[tuple[int, int]]:
    """Address ranges (start, end) of the read-only file mappings that hold buffers of `items`.

    Parameters
    ----------
    items : iterable of datasets.Dataset, datasets.DatasetDict or pyarrow.Table
        What a pass reads.

    Returns
    -------
    list of (int, int)
        Whole mappings (each usually one Arrow file), sorted; empty when nothing is memory-mapped or the
        platform is not Linux.
    """
    return _ranges(list(_tables(items)))


def _ranges(tables: list[pa.Table]) -> list[tuple[int, int]]:
    if not sys.platform.startswith("linux"):
        return []
    mappings = _read_only_file_mappings()
    starts = [start for start, _ in mappings]
    found: set[tuple[int, int]] = set()
    for table in tables:
        for column in table.columns:
            for chunk in column.chunks:
                for buffer in chunk.buffers():
                    if buffer is None or not buffer.size:
                        continue
                    i = bisect.bisect_right(starts, buffer.address) - 1
                    if i >= 0 and buffer.address + buffer.size <= mappings[i][1]:
                        found.add(mappings[i])
    return sorted(found)


def release(ranges: Iterable[tuple[int, int]]) -> None:
    """Drop this process's resident pages of `ranges` (from `mapped_files`; the caller keeps the tables
    they belong to alive)."""
    for start, end in ranges:
        _madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_DONTNEED)


@contextmanager
def pages_released(*items: Any, every: float = RELEASE_EVERY) -> Iterator[None]:
    """Release the mapped pages of the files behind `items` every `every` seconds while the block runs.

    Parameters
    ----------
    *items : datasets.Dataset, datasets.DatasetDict or pyarrow.Table
        What the block reads; held until the block ends.
    every : float
        Seconds between releases.
    """
    tables = list(_tables(items))  # held until the block ends, so the mappings cannot go away meanwhile
    ranges = _ranges(tables)
    if not ranges:
        yield
        return
    stop = threading.Event()

    def keep_releasing() -> None:
        while not stop.wait(every):
            release(ranges)

    thread = threading.Thread(target=keep_releasing, name="goemobalance-release-pages", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(ranges)


def _tables(items: Iterable[Any]) -> Iterator[pa.Table]:
    for item in items:
        if isinstance(item, datasets.DatasetDict):
            yield from _tables(item.values())
        elif isinstance(item, datasets.Dataset):
            yield item.data.table
        elif isinstance(item, pa.Table):
            yield item


def _read_only_file_mappings() -> list[tuple[int, int]]:
    """(start, end) of this process's mappings of whole files (from offset 0, as Arrow maps them) that are
    neither writable nor executable: never memory a write could have changed."""
    mappings = []
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) < 6 or not fields[5].startswith("/"):
                continue
            perms, offset = fields[1], int(fields[2], 16)
            if perms[0] == "r" and perms[1] == "-" and perms[2] == "-" and offset == 0:
                start, end = fields[0].split("-")
                mappings.append((int(start, 16), int(end, 16)))
    return sorted(mappings)


def _libc_madvise():
    if not sys.platform.startswith("linux"):
        return lambda *args: 0
    function = ctypes.CDLL(None, use_errno=True).madvise
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_madvise = _libc_madvise()

__all__ = ["MADV_DONTNEED", "RELEASE_EVERY", "mapped_files", "pages_released", "release"]
