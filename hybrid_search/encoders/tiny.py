"""Tiny BGE-M3-shaped models built offline for tests and demos, in the real file layout, so
FlagEmbedding loads them as it loads `BAAI/bge-m3` and `BAAI/bge-reranker-v2-m3`. Weights are
random but seeded, drawn wider than XLM-R's 0.02 (at 0.02 a 2-layer model maps every text to
nearly the same vector, and ranking tests would compare rounding noise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

TINY_EMBEDDING_DIR = "bge-m3-tiny"
TINY_RERANKER_DIR = "reranker-tiny"
#: BGE-M3 keeps 8192 usable positions plus XLM-R's padding offset of 2
MAX_POSITIONS = 8194
_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]


@dataclass(frozen=True)
class TinyModels:
    embedding_model: Path
    reranker_model: Path


def _training_text() -> list[str]:
    """The built-in zh/en sample, plus Python's own English reference text and jieba's most
    frequent Chinese words, so the tiny vocabulary splits text into realistically many tokens
    (about 1.5 per English word, as XLM-R does) instead of near-characters."""
    text = resources.files("hybrid_search.encoders").joinpath("tiny_corpus.txt").read_text("utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    from pydoc_data.topics import topics  # stdlib: the same text on every Python 3.11+

    lines += [topics[k] for k in sorted(topics)]
    lines += _frequent_chinese_words()
    return lines


def _frequent_chinese_words(n: int = 20000, per_line: int = 40) -> list[str]:
    """jieba's dictionary (a product dependency): its `n` most frequent words as text lines."""
    try:
        import jieba

        path = Path(jieba.__file__).with_name("dict.txt")
        rows = [line.split() for line in path.read_text("utf-8").splitlines()]
    except (ImportError, OSError):
        return []
    words = sorted((r for r in rows if len(r) >= 2), key=lambda r: (-int(r[1]), r[0]))[:n]
    flat = [w[0] for w in words]
    return ["".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]


def _write_tokenizer(out: Path, vocab_size: int) -> int:
    """Train an XLM-R-style tokenizer (Metaspace, <s> </s> specials), saved as a generic
    `PreTrainedTokenizerFast`: XLMRobertaTokenizer would rebuild a Unigram model from our BPE."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer

    # BPE, not XLM-R's Unigram: the tokenizers Unigram trainer is not deterministic (its
    # piece scores vary run to run), and the same call must always write the same model
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC()])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = BpeTrainer(vocab_size=vocab_size, special_tokens=_SPECIAL_TOKENS, show_progress=False)
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    tokenizer.add_special_tokens(["<mask>"])
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tokenizer.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "model_max_length": MAX_POSITIONS - 2,
        "add_prefix_space": True,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), "utf-8")
    special = {k: v for k, v in config.items() if k.endswith("_token")}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2), "utf-8")
    return int(tokenizer.get_vocab_size())


def _xlmr_config(vocab_size: int, hidden: int, layers: int, heads: int, **extra: Any) -> Any:
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 4,
        max_position_embeddings=MAX_POSITIONS,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        type_vocab_size=1,
        **extra,
    )


def build_tiny_models(
    root: Path | str,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    vocab_size: int = 8000,
    seed: int = 0,
    init_range: float = 0.3,
) -> TinyModels:
    """Write `root/bge-m3-tiny` and `root/reranker-tiny`; reuse them if already complete."""
    import torch
    from transformers import XLMRobertaForSequenceClassification, XLMRobertaModel

    root = Path(root)
    emb_dir, rr_dir = root / TINY_EMBEDDING_DIR, root / TINY_RERANKER_DIR
    done = root / ".tiny-complete"
    if done.exists():
        return TinyModels(emb_dir, rr_dir)
    for d in (emb_dir, rr_dir):
        d.mkdir(parents=True, exist_ok=True)

    real_vocab = _write_tokenizer(emb_dir, vocab_size)
    torch.manual_seed(seed)
    encoder = XLMRobertaModel(
        _xlmr_config(real_vocab, hidden, layers, heads, initializer_range=init_range),
        add_pooling_layer=False,
    )
    encoder.save_pretrained(emb_dir)
    # BGE-M3's heads: ColBERT projection (hidden -> hidden) and sparse token weight (hidden -> 1)
    torch.save(torch.nn.Linear(hidden, hidden).state_dict(), emb_dir / "colbert_linear.pt")
    sparse = torch.nn.Linear(hidden, 1)
    with torch.no_grad():  # a positive bias keeps most token weights above ReLU's zero
        sparse.bias.fill_(0.1)
    torch.save(sparse.state_dict(), emb_dir / "sparse_linear.pt")

    _write_tokenizer(rr_dir, vocab_size)
    torch.manual_seed(seed + 1)
    reranker = XLMRobertaForSequenceClassification(
        _xlmr_config(real_vocab, hidden, layers, heads, num_labels=1, initializer_range=init_range)
    )
    reranker.save_pretrained(rr_dir)
    done.write_text("ok\n", "utf-8")
    return TinyModels(emb_dir, rr_dir)


def tiny_reminder(embedding_model: str) -> str | None:
    """One line for every search and `doctor` while the models are the random tiny ones: their
    rankings look like a broken product otherwise."""
    if not (Path(embedding_model).expanduser().parent / ".tiny-complete").exists():
        return None
    return (
        "note: tiny random models: rankings mean nothing; set HYBRID_SEARCH_EMBEDDING_MODEL and "
        "HYBRID_SEARCH_RERANKER_MODEL to real weights (README: Models)"
    )
