"""Cross-encoder speed: pairs per second on WikiQA test pairs, sentembed and the reference side by side.

Run: .venv/bin/python benchmarks/rerank_speed.py [--pairs 2351] [--batch-size 32] [--repeats 3]
    [--backends torch onnx openvino onnx-int8 openvino-bf16 openvino-int8-static]
Besides speed, each model's MAP on the WikiQA test questions that have a right answer (scores ranked per
question), so that a faster int8 or bf16 path shows what it costs.
All models score the same pairs in the same process, alternately; the best of the repeats is reported.
The ONNX and OpenVINO backends run a copy of the model folder, so their exports never touch ../shared.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WIKIQA_TEST = SHARED / "data" / "wikiqa" / "WikiQA-test.txt"
CROSS_ENCODER = SHARED / "models" / "wikiqa-MiniLM-L3-v2-cross-encoder"


def read_rows(limit: int) -> list[tuple[str, str, int]]:
    with open(WIKIQA_TEST, encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return [(question, sentence, int(label)) for question, sentence, label in rows][:limit]


def read_pairs(limit: int) -> list[tuple[str, str]]:
    return [(question, sentence) for question, sentence, _ in read_rows(limit)]


def mean_average_precision(rows: list[tuple[str, str, int]], scores: np.ndarray) -> float:
    """MAP over the questions with at least one right answer, candidates ranked by score."""
    by_question: dict[str, list[tuple[float, int]]] = {}
    for (question, _, label), score in zip(rows, scores, strict=True):
        by_question.setdefault(question, []).append((float(score), label))
    precisions = []
    for candidates in by_question.values():
        ranked = [label for _, label in sorted(candidates, key=lambda item: -item[0])]
        if not any(ranked):
            continue
        hits = [rank for rank, label in enumerate(ranked, start=1) if label]
        precisions.append(np.mean([(number + 1) / rank for number, rank in enumerate(hits)]))
    return float(np.mean(precisions))


def load_ours(backend: str, folder: Path):
    """The cross-encoder on one backend; int8 and bf16 through their documented options."""
    from sentembed import CrossEncoder
    from sentembed.backend import export_dynamic_quantized_onnx_model, export_static_quantized_openvino_model

    if backend == "onnx-int8":
        path = export_dynamic_quantized_onnx_model(CrossEncoder(str(folder), backend="onnx"), "avx2", str(folder))
        return CrossEncoder(str(folder), device="cpu", backend="onnx", model_kwargs={"file_name": str(path)})
    if backend == "openvino-bf16":
        return CrossEncoder(str(folder), device="cpu", backend="openvino", model_kwargs={"inference_precision": "bf16"})
    if backend == "openvino-int8-static":
        plain = CrossEncoder(str(folder), device="cpu", backend="openvino")
        calibration = [(question, sentence) for question, sentence, _ in read_calibration_rows()]
        path = export_static_quantized_openvino_model(plain, None, str(folder), calibration_texts=calibration)
        return CrossEncoder(str(folder), device="cpu", backend="openvino", model_kwargs={"file_name": str(path)})
    return CrossEncoder(str(folder), device="cpu", backend=backend)


def read_calibration_rows(count: int = 300) -> list[tuple[str, str, int]]:
    """WikiQA train pairs (not the test set) to calibrate static int8 on."""
    with open(WIKIQA_TEST.with_name("WikiQA-train.txt"), encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return [(question, sentence, int(label)) for question, sentence, label in rows[:count]]


def time_predict(model, pairs: list[tuple[str, str]], batch_size: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    scores = model.predict(pairs, batch_size=batch_size, show_progress_bar=False)
    return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2351)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "openvino"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from sentence_transformers import CrossEncoder as Reference

    rows = read_rows(args.pairs)
    pairs = [(question, sentence) for question, sentence, _ in rows]
    copy = Path(tempfile.mkdtemp(prefix="rerank-speed-")) / CROSS_ENCODER.name
    shutil.copytree(CROSS_ENCODER, copy, ignore=shutil.ignore_patterns("onnx"))
    models = {"reference": Reference(str(CROSS_ENCODER), device="cpu")}
    for backend in args.backends:
        models[f"sentembed {backend}"] = load_ours(backend, copy)
    for model in models.values():
        model.predict(pairs[:64], batch_size=args.batch_size)
    timings: dict[str, list[float]] = {name: [] for name in models}
    scores = {}
    for _ in range(args.repeats):
        for name, model in models.items():
            seconds, scores[name] = time_predict(model, pairs, args.batch_size)
            timings[name].append(seconds)
    print(f"{len(pairs)} WikiQA test pairs, batch_size={args.batch_size}, torch threads={torch.get_num_threads()}")
    print("| model | pairs/s | best seconds | ratio to reference | max abs score difference | WikiQA MAP |")
    print("|---|---|---|---|---|---|")
    rates = {name: len(pairs) / min(seconds) for name, seconds in timings.items()}
    for name, rate in rates.items():
        difference = float(np.abs(scores[name] - scores["reference"]).max())
        quality = mean_average_precision(rows, scores[name])
        print(
            f"| {name} | {rate:.1f} | {min(timings[name]):.2f} | {rate / rates['reference']:.2f}x | {difference:.1e} "
            f"| {quality:.4f} |"
        )
    shutil.rmtree(copy.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
