"""Memory probes the benchmarks share: /proc readings of a process (or its process tree), and a background
sampler that keeps their peak. Linux only (they read /proc); no third-party packages."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


def status_kb(pid: int | str, field: str) -> int:
    """One ``kB`` field of /proc/<pid>/status (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class PeakSampler:
    """Samples a memory reading (kB) in a background thread and keeps the peak."""

    def __init__(self, read: Callable[[], int], interval: float = 0.05):
        self.read = read
        self.interval = interval
        self.peak_kb = read()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self.read())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_kb = max(self.peak_kb, self.read())


def tree_rss_kb(root: int) -> int:
    """VmRSS of `root` and all its descendants (joblib workers, for one), summed (kB)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    return sum(status_kb(pid, "VmRSS") for pid in tree)
