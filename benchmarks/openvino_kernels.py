"""Which kernels OpenVINO's CPU plugin runs for a model, and how long each kind takes (its per-node profile).

Used to find why NNCF's static int8 is slower than fp32 on CPUs without VNNI: run it natively and with
`ONEDNN_MAX_CPU_ISA=AVX2` (oneDNN's cap, read when OpenVINO is imported) on the fp32 export and the int8 IR.

Run: .venv/bin/python benchmarks/openvino_kernels.py FILE [FILE ...] [--batch 32] [--tokens 32] [--threads 1]
e.g. ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python benchmarks/openvino_kernels.py model/onnx/model.onnx \
     model/openvino/openvino_model_qint8_quantized.xml
"""

from __future__ import annotations

import argparse
import collections
import os
import time

import numpy as np


def random_inputs(compiled, batch: int, tokens: int) -> dict[str, np.ndarray]:
    """Token ids of a full batch (no padding), for the inputs the model has."""
    ids = np.random.default_rng(0).integers(1000, 20000, (batch, tokens))
    candidates = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return {port.get_any_name(): candidates[port.get_any_name()] for port in compiled.inputs}


def profile(path: str, batch: int, tokens: int, threads: int, runs: int = 5) -> None:
    import openvino

    core = openvino.Core()
    settings = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads, "PERF_COUNT": "YES"}
    compiled = core.compile_model(core.read_model(path), "CPU", settings)
    request = compiled.create_infer_request()
    inputs = random_inputs(compiled, batch, tokens)
    for _ in range(3):
        request.infer(inputs)
    start = time.perf_counter()
    for _ in range(runs):
        request.infer(inputs)
    milliseconds = 1000 * (time.perf_counter() - start) / runs
    totals: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for node in request.profiling_info:
        entry = totals[(node.node_type, node.exec_type)]
        entry[0] += 1
        entry[1] += 1000 * node.real_time.total_seconds()
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "none")
    print(f"\n{path}: {milliseconds:.1f} ms per batch of {batch} x {tokens} tokens (oneDNN cap: {cap})")
    print("| nodes | node type | kernel | ms (last run) |\n|---|---|---|---|")
    for (node_type, kernel), (count, spent) in sorted(totals.items(), key=lambda item: -item[1][1])[:12]:
        print(f"| {count} | {node_type} | {kernel} | {spent:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="ONNX or OpenVINO IR files")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for path in args.files:
        profile(path, args.batch, args.tokens, args.threads)


if __name__ == "__main__":
    main()
