"""Careless input and stuck processes: a clear error naming the item, never a hang, a crash or a silent
wrong result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from sentembed import CrossEncoder, SentenceTransformer
from sentembed.cli.main import main
from sentembed.util import cos_sim
from tests.support.paths import CROSS_ENCODER, MINILM_L3, REPO


def test_a_stopped_worker_does_not_hang_the_pool(minilm_l3, sts_sentences):
    texts = sts_sentences[:200]
    expected = minilm_l3.encode(texts)
    with minilm_l3.start_multi_process_pool(["cpu", "cpu"], chunk_timeout=5) as pool:
        stopped = pool.workers[0].process
        os.kill(stopped.pid, signal.SIGSTOP)
        embeddings = minilm_l3.encode(texts, pool=pool, chunk_size=10)
        assert not stopped.is_alive() and pool.workers[1].process.is_alive()
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)


def test_chunk_timeout_must_be_a_positive_number(minilm_l3):
    with pytest.raises(ValueError, match="chunk_timeout must be a positive number"):
        minilm_l3.start_multi_process_pool(["cpu"], chunk_timeout=0)


HUGE_TEXT_PROBE = """
import resource, sys, time
from sentembed import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
words = " ".join(["token"] * 10)
model.encode(words)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
huge = " ".join(["embedding"] * 2_000_000)  # 20 MB of words
start = time.perf_counter()
model.encode(huge)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024, time.perf_counter() - start)
"""


def test_a_huge_text_costs_what_its_first_tokens_cost():
    result = subprocess.run(
        [sys.executable, "-c", HUGE_TEXT_PROBE, str(MINILM_L3)], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    peak_rise, _seconds = result.stdout.split()
    assert int(peak_rise) < 200 * 2**20  # the reference takes +2.9 GB here; the string itself is 20 MB


def test_cutting_long_texts_early_changes_no_embedding(minilm_l3, caplog):
    long_words = " ".join(["embedding"] * 100_000)
    spaced = "first" + " " * 10_000 + "second"  # few tokens over many characters: tokenized whole
    one_word = "x" * 50_000
    texts = [long_words, spaced, one_word, "A short sentence."]
    with caplog.at_level("WARNING"):
        embeddings = minilm_l3.encode(texts)
    assert "1 of 4 texts were longer than max_seq_length=128" in caplog.text
    rows, truncated = minilm_l3[0].tokenize_unpadded(texts)
    full = minilm_l3.tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    assert [row["input_ids"] for row in rows] == full and truncated == 1
    np.testing.assert_allclose(embeddings[1], minilm_l3.encode("first second"), atol=1e-6)


def test_a_long_pair_is_cut_as_the_tokenizer_cuts_it():
    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    pairs = [("a question", " ".join(["passage"] * 100_000)), ("q" + " " * 20_000 + "q", "an answer")]
    rows, truncated = model.classifier.tokenize_pairs_unpadded(pairs)
    full = model.tokenizer(
        [p[0] for p in pairs], [p[1] for p in pairs], truncation="longest_first", max_length=model.max_length
    )
    assert [row["input_ids"] for row in rows] == full["input_ids"] and truncated == 1


@pytest.mark.parametrize(
    "device", ["bogus", "cuda:7", "cuda"] if not torch.cuda.is_available() else ["bogus", "cuda:97"]
)
def test_an_unknown_or_missing_device_is_a_clear_error(device, capsys):
    with pytest.raises(ValueError, match=rf"device = '{device}' "):
        SentenceTransformer(str(MINILM_L3), device=device)
    with pytest.raises(ValueError, match=rf"device = '{device}' "):
        CrossEncoder(str(CROSS_ENCODER), device=device)
    assert main(["encode", "--model", str(MINILM_L3), "--device", device, "text"]) == 2
    assert "error: device = " in capsys.readouterr().err


def test_encode_to_another_device_checks_it(minilm_l3):
    with pytest.raises(ValueError, match="device = 'bogus' is not a device torch knows"):
        minilm_l3.encode("text", device="bogus")


def test_the_cli_says_what_it_did(tmp_path, capsys, monkeypatch):
    import io

    assert main(["encode", "--model", str(MINILM_L3), "texts.txt"]) == 0
    assert "no file 'texts.txt'; embedding it as a text" in capsys.readouterr().err
    assert main(["encode", "--model", str(MINILM_L3), "-o", str(tmp_path / "out"), "a text"]) == 0
    assert f"to {tmp_path / 'out.npy'}" in capsys.readouterr().err and (tmp_path / "out.npy").exists()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["encode", "--model", str(MINILM_L3)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no texts were given" in captured.err


def test_a_lone_surrogate_is_named(minilm_l3):
    with pytest.raises(ValueError, match=r"inputs\[1\] holds a lone surrogate"):
        minilm_l3.encode(["fine", "bad \udc80 text"])
    with pytest.raises(ValueError, match=r"sentences\[0\]\[1\] holds a lone surrogate"):
        CrossEncoder(str(CROSS_ENCODER), device="cpu").predict([("fine", "\ud800")])


def test_three_dimensional_input_to_similarity_is_named():
    with pytest.raises(ValueError, match=r"the first embeddings must be 1-D or 2-D, got shape \(2, 3, 4\)"):
        cos_sim(torch.ones(2, 3, 4), torch.ones(3, 4))


def test_a_missing_onnx_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r'pip install "sentembed\[onnx\]"'):
        SentenceTransformer(str(MINILM_L3), device="cpu", backend="onnx")
