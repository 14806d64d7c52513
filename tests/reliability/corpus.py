"""A deterministic mixed Chinese/English corpus for the crash tests: same seed, same bytes."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any


def _words(text: str) -> list[str]:
    return text.split()


_EN = _words(
    "vector index query shard replica segment tenant cluster latency recall precision "
    "embedding token chunk document retrieval ranking fusion sparse dense lexical "
    "semantic cache memory disk network failover backup restore schema field filter "
    "river mountain forest harbour library museum garden bridge market station"
)
_ZH = _words(
    "向量 索引 查询 分片 副本 租户 集群 延迟 召回 精度 嵌入 文档 检索 排序 融合 稀疏 "
    "稠密 语义 缓存 内存 磁盘 网络 备份 恢复 河流 山脉 森林 港口 图书馆 博物馆 花园 "
    "桥梁 市场 车站 熊猫 竹子 北京 上海 长江 黄河"
)
_TOPICS = ("storage", "search", "geography", "operations", "wildlife")


def _english(rng: random.Random) -> str:
    words = [rng.choice(_EN) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def _chinese(rng: random.Random) -> str:
    return "".join(rng.choice(_ZH) for _ in range(rng.randint(5, 14))) + "。"


def make_document(i: int, seed: int) -> dict[str, Any]:
    """Document i of the corpus: 1 to 14 sentences, Chinese, English or mixed."""
    rng = random.Random(seed * 1_000_003 + i)
    lang = rng.choice(("en", "zh", "mixed"))
    sentences = []
    for _ in range(rng.randint(1, 14)):
        zh = lang == "zh" or (lang == "mixed" and rng.random() < 0.5)
        sentences.append(_chinese(rng) if zh else _english(rng))
    title = (_chinese(rng) if lang == "zh" else _english(rng)).rstrip("。.")
    return {
        "id": f"doc-{i:05d}",
        "title": title,
        "text": " ".join(sentences),
        "metadata": {"lang": lang, "topic": rng.choice(_TOPICS), "year": 2000 + i % 25},
    }


def write_corpus(path: Path, n: int, seed: int = 7) -> list[str]:
    """Write n documents as JSON Lines; returns their ids in order."""
    ids = []
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            doc = make_document(i, seed)
            ids.append(doc["id"])
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return ids
