"""Encoding speed on a CUDA GPU: sentembed next to the reference, fp32 / fp16 / bf16 weights, in one process.

Short text: the distinct STSb test sentences; long text: SciFact abstracts (title + text). Reports
sentences/s, the ratio to the reference at the same dtype, and max |delta| against the reference.

Run (on a GPU machine): python benchmarks/cuda_encode_speed.py [--model FOLDER] [--repeats 3] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from encode_speed import corpora, minilm_l6_folder

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def best_rate(model, texts: list[str], batch_size: int, repeats: int) -> tuple[float, np.ndarray]:
    model.encode(texts[:256], batch_size=batch_size)
    best, output = float("inf"), None
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        output = model.encode(texts, batch_size=batch_size, show_progress_bar=False)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best, np.asarray(output, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: the installed all-MiniLM-L6-v2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--scifact", type=int, default=1000)
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer as Reference

    from sentembed import SentenceTransformer

    folder = args.model or str(minilm_l6_folder())
    print(f"{torch.cuda.get_device_name()}; model {folder}; batch size {args.batch_size}")
    print("| corpus | dtype | sentembed sentences/s | reference sentences/s | ratio | max abs delta |")
    print("|---|---|---|---|---|---|")
    texts = corpora(args.scifact)
    for name, dtype in DTYPES.items():
        kwargs = {"device": "cuda", "model_kwargs": {"torch_dtype": dtype}}
        ours, reference = SentenceTransformer(folder, **kwargs), Reference(folder, **kwargs)
        for corpus in ("short (STSb)", "long (SciFact)"):
            our_rate, our_output = best_rate(ours, texts[corpus], args.batch_size, args.repeats)
            their_rate, their_output = best_rate(reference, texts[corpus], args.batch_size, args.repeats)
            delta = np.abs(our_output - their_output).max()
            ratio = our_rate / their_rate
            print(f"| {corpus} | {name} | {our_rate:.0f} | {their_rate:.0f} | {ratio:.2f}x | {delta:.1e} |", flush=True)


if __name__ == "__main__":
    main()
