"""Packed linear weights (`sentembed.backend.pack_linear_weights`) against torch's own matmul, in one process.

all-MiniLM-L6-v2 twice, one of them packed. For 1 and 2 torch threads: a single STSb sentence's latency
(`embed_rows` of one row) computed in the main thread and in a second thread (as the server computes), and
sentences/s of the distinct STSb test sentences in batches of 8 and of SciFact abstracts in batches of 32
(`encode`). The two models alternate, the repeats are interleaved, and the median is reported with the
ratio packed / plain, and the max |delta| between their embeddings.

Run: .venv/bin/python benchmarks/packed_weights.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from sentembed import SentenceTransformer
from sentembed.backend import pack_linear_weights
from sentembed.common.runtime import available_cores

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encode_speed import minilm_l6_folder, read_scifact, read_sts_test  # noqa: E402


def in_a_thread(run: Callable[[], float]) -> float:
    """`run`'s result, computed on a second thread."""
    result: list[float] = []
    thread = threading.Thread(target=lambda: result.append(run()))
    thread.start()
    thread.join()
    return result[0]


def single_sentence_ms(model: SentenceTransformer, sentence: str, calls: int = 40) -> float:
    rows, _ = model.input_module.tokenize_unpadded([sentence])
    with torch.inference_mode():
        for _ in range(3):
            model.embed_rows(rows, 8)
        started = time.perf_counter()
        for _ in range(calls):
            model.embed_rows(rows, 8)
    return (time.perf_counter() - started) / calls * 1e3


def sentences_per_second(model: SentenceTransformer, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    model.encode(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    first, second, _ = read_sts_test()
    sentences = list(dict.fromkeys(first + second))[:1200]
    abstracts = read_scifact(64)
    plain = SentenceTransformer(str(minilm_l6_folder()), device="cpu")
    packed = SentenceTransformer(str(minilm_l6_folder()), device="cpu")
    print(f"packed layers: {pack_linear_weights(packed)}")
    delta = (packed.encode(abstracts, convert_to_tensor=True) - plain.encode(abstracts, convert_to_tensor=True)).abs()
    print(f"max |delta| packed vs plain on {len(abstracts)} SciFact abstracts: {delta.max().item():.2e}")
    cells: dict[tuple[str, int, str], list[float]] = {}
    for _ in range(args.repeats):
        for threads in sorted({1, min(2, available_cores())}):
            torch.set_num_threads(threads)
            for name, model in (("plain", plain), ("packed", packed)):
                measures = {
                    "1 sentence, ms (main thread)": single_sentence_ms(model, sentences[0]),
                    "1 sentence, ms (second thread)": in_a_thread(lambda m=model: single_sentence_ms(m, sentences[0])),
                    "STSb, batch 8, sentences/s": sentences_per_second(model, sentences, 8),
                    "SciFact, batch 32, sentences/s": sentences_per_second(model, abstracts, 32),
                }
                for measure, value in measures.items():
                    cells.setdefault((measure, threads, name), []).append(value)
    print("\n| measure | threads | plain | packed | packed / plain |\n|---|---|---|---|---|")
    for measure, threads, name in sorted(cells):
        if name != "plain":
            continue
        before = statistics.median(cells[(measure, threads, "plain")])
        after = statistics.median(cells[(measure, threads, "packed")])
        print(f"| {measure} | {threads} | {before:.1f} | {after:.1f} | {after / before:.2f} |")


if __name__ == "__main__":
    main()
