"""semantic_search never materialises the full query x corpus score matrix: peak memory stays bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("memory_probe.py")


def measure(kind: str, rows: int) -> dict:
    result = subprocess.run(
        [sys.executable, str(PROBE), kind, str(rows)], capture_output=True, text=True, check=True, timeout=600
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_peak_memory_stays_below_the_corpus_size_on_200k():
    figures = measure("ours", 200_000)
    assert figures["peak_rise_bytes"] < figures["corpus_bytes"]


@pytest.mark.slow
def test_peak_memory_below_twice_the_corpus_on_1m():
    figures = measure("ours", 1_000_000)
    assert figures["corpus_bytes"] + figures["peak_rise_bytes"] < 2 * figures["corpus_bytes"]
