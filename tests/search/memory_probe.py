"""Run in a subprocess: peak resident memory added by one search over an n x 384 float32 corpus.

Prints JSON: corpus bytes and the rise of the peak RSS (VmHWM) during the search, after the corpus exists.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch


def peak_rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


def main(kind: str, rows: int) -> None:
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    corpus = torch.from_numpy(rng.standard_normal((rows, 384), dtype=np.float32))
    queries = torch.from_numpy(rng.standard_normal((20, 384), dtype=np.float32))
    if kind == "reference":
        from sentence_transformers.util import semantic_search
    else:
        from sentembed.util import semantic_search
    semantic_search(queries[:2], corpus[:1000])
    reset_peak()
    before = peak_rss_bytes()
    semantic_search(queries, corpus, top_k=10)
    print(json.dumps({"corpus_bytes": corpus.numel() * 4, "peak_rise_bytes": peak_rss_bytes() - before}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
