"""Small RoBERTa classifiers built locally (tokenizer trained on given texts + a config), for tests,
benchmarks and offline demos where no Hub model can be downloaded. Their weights are random: they
exercise the labeling machinery, they do not label well.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from goemobalance.labels import GOEMOTIONS, LabelSpace


def train_bpe_tokenizer(texts: Sequence[str], vocab_size: int = 2000, model_max_length: int = 512):
    """A byte-level BPE tokenizer trained on `texts`, wrapped as a RoBERTa-style fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)  # fmt: skip
    bpe.train_from_iterator(list(texts), trainer=trainer)
    bpe.post_processor = processors.RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>"))
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>", model_max_length=model_max_length,
    )  # fmt: skip


def tiny_roberta_classifier(
    tokenizer,
    space: LabelSpace = GOEMOTIONS,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 2,
    multi_label: bool = True,
    max_positions: int = 514,
    seed: int = 0,
):
    """A randomly initialised `RobertaForSequenceClassification` whose labels are `space`'s names."""
    from transformers import RobertaConfig, RobertaForSequenceClassification

    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        id2label=dict(enumerate(space.names)), label2id={n: i for i, n in enumerate(space.names)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )  # fmt: skip
    torch.manual_seed(seed)
    return RobertaForSequenceClassification(config).eval()
