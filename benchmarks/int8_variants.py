"""Dynamic against static int8 for all-MiniLM-L6-v2, on onnxruntime and OpenVINO, next to the reference.

Static int8 quantizes activations with ranges calibrated once (512 STSb train sentences) instead of per
batch. This script measures whether that beats the dynamic int8 file sentembed ships, at the accuracy
target (STSb test Spearman >= 0.815). Variants:
- dynamic: `export_dynamic_quantized_onnx_model(model, config)` for avx2 and avx512_vnni;
- static-all: every weight MatMul static int8 (QDQ, per-channel weights, percentile-calibrated activations);
- static-keep-ffn-out: the same, but the feed-forward output projections (whose inputs have outliers) stay fp32;
- nncf-static: `export_static_quantized_openvino_model` (NNCF, transformer preset with SmoothQuant, 300 STSb
  train sentences), on OpenVINO in fp32 and with `inference_precision="bf16"` for what int8 leaves in float;
- nncf-static-attention: NNCF without the transformer preset, which also quantizes the attention products
  (QK^T and xV) that the preset leaves in float.

Run: .venv/bin/python benchmarks/int8_variants.py [--scifact 150] [--repeats 2]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from encode_speed import DATA, STATIC_INT8_FILE, calibration_texts, corpora, minilm_l6_folder, spearman_on_sts

CALIBRATION_SENTENCES = 512


def calibration_batches(tokenizer) -> list[dict[str, np.ndarray]]:
    """Fixed-length batches of STSb train sentences (the percentile calibrator needs equal shapes)."""
    with open(DATA / "stsbenchmark" / "sts-train.csv", encoding="utf-8") as handle:
        sentences = [row[5] for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    sentences = sentences[:CALIBRATION_SENTENCES]
    batches = []
    for start in range(0, len(sentences), 32):
        encoded = tokenizer(
            sentences[start : start + 32], padding="max_length", max_length=64, truncation=True, return_tensors="np"
        )
        batches.append({name: array.astype(np.int64) for name, array in encoded.items()})
    return batches


def matmuls_to_keep_fp32(onnx_path: Path, keep_ffn_out: bool) -> list[str]:
    """Attention's activation-by-activation MatMuls, plus the feed-forward output projections if asked."""
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    keep = []
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        weights = [shapes[name] for name in node.input if name in shapes]
        if not weights or (keep_ffn_out and weights[0][0] > weights[0][1]):
            keep.append(node.name)
    return keep


def static_int8(plain: Path, target: Path, tokenizer, keep_ffn_out: bool) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration_batches(tokenizer))

        def get_next(self):
            return next(self.batches, None)

    quantize_static(
        str(plain),
        str(target),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=matmuls_to_keep_fp32(plain, keep_ffn_out),
        calibrate_method=CalibrationMethod.Percentile,
    )
    return target


def build_variants(folder: Path) -> dict:
    from sentembed import SentenceTransformer
    from sentembed.backend import export_dynamic_quantized_onnx_model, export_static_quantized_openvino_model

    onnx_model = SentenceTransformer(str(folder), device="cpu", backend="onnx")
    plain = folder / "onnx" / "model.onnx"
    files = {
        f"dynamic-{config}": export_dynamic_quantized_onnx_model(onnx_model, config, str(folder))
        for config in ("avx2", "avx512_vnni")
    }
    for name, keep in (("static-all", False), ("static-keep-ffn-out", True)):
        files[name] = static_int8(plain, folder / "onnx" / f"model_{name}.onnx", onnx_model.tokenizer, keep)
    variants = {}
    for name, path in files.items():
        for runtime in ("onnx", "openvino"):
            if runtime == "openvino" and name.startswith("dynamic"):
                continue
            variants[f"{name} ({runtime})"] = SentenceTransformer(
                str(folder), device="cpu", backend=runtime, model_kwargs={"file_name": str(path)}
            )
    openvino_model = SentenceTransformer(str(folder), device="cpu", backend="openvino")
    export_static_quantized_openvino_model(openvino_model, None, str(folder), calibration_texts=calibration_texts())
    attention = export_static_quantized_openvino_model(
        openvino_model,
        {"model_type": None},
        str(folder),
        file_suffix="qint8_attention",
        calibration_texts=calibration_texts(),
    )
    for name, file_name, extra in (
        ("nncf-static (openvino)", STATIC_INT8_FILE, {}),
        ("nncf-static + bf16 (openvino)", STATIC_INT8_FILE, {"inference_precision": "bf16"}),
        ("nncf-static-attention (openvino)", str(attention), {}),
    ):
        options = {"file_name": file_name, **extra}
        variants[name] = SentenceTransformer(str(folder), device="cpu", backend="openvino", model_kwargs=options)
    return variants


def best_seconds(model, texts: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.encode(texts, show_progress_bar=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", default="", help="measure only the variants whose name contains this")
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer as Reference

    folder = Path(tempfile.mkdtemp(prefix="int8-variants-")) / "all-MiniLM-L6-v2"
    shutil.copytree(minilm_l6_folder(), folder, ignore=shutil.ignore_patterns("onnx"))
    reference = Reference(str(folder), device="cpu")
    variants = build_variants(folder)
    texts = corpora(args.scifact)
    short, long = texts["short (STSb)"], texts["long (SciFact)"]
    reference_seconds = {"short": best_seconds(reference, short, args.repeats)}
    reference_seconds["long"] = best_seconds(reference, long, args.repeats)
    print("| variant | STSb Spearman | short: ratio to reference | long: ratio to reference |")
    print("|---|---|---|---|")
    reference_spearman = spearman_on_sts(dict(zip(short, reference.encode(short), strict=True)))
    print(f"| reference (fp32) | {reference_spearman:.4f} | 1.00x | 1.00x |")
    for name, model in variants.items():
        if args.only not in name:
            continue
        spearman = spearman_on_sts(dict(zip(short, model.encode(short), strict=True)))
        ratios = [
            reference_seconds[corpus] / best_seconds(model, corpus_texts, args.repeats)
            for corpus, corpus_texts in (("short", short), ("long", long))
        ]
        print(f"| {name} | {spearman:.4f} | {ratios[0]:.2f}x | {ratios[1]:.2f}x |", flush=True)
    shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
