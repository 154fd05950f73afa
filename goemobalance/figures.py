"""Figures without global state: every plot is a `matplotlib.figure.Figure` on its own Agg canvas.

`matplotlib.use` and `pyplot` change process-wide state (the backend, the current figure) and keep figures
alive until closed; a library must not do that to its caller. These two helpers are the one place that
creates and writes figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def new_figure(figsize: tuple[float, float], **options: Any) -> Any:
    """A `matplotlib.figure.Figure` of `figsize` inches with an Agg canvas; `options` go to `Figure`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, **options)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: str | Path, *, dpi: int = 110) -> Path:
    """Write `figure` as a PNG at `path` (folders created), without a timestamp or software tag, so the same
    figure gives the same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, metadata={"Software": None})
    return path


__all__ = ["new_figure", "save_figure"]
