"""The `sentembed encode` and `sentembed similarity` commands, run in-process on real models."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from sentembed.cli.main import main
from tests.support.paths import MINILM_L3

MODEL = ["--model", str(MINILM_L3)]


def test_encode_arguments_to_json_lines(capsys, minilm_l3):
    assert main(["encode", "first text", "second text", *MODEL]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["text"] for row in rows] == ["first text", "second text"]
    expected = minilm_l3.encode(["first text", "second text"])
    assert np.abs(np.array([row["embedding"] for row in rows]) - expected).max() < 1e-6


def test_encode_file_to_npy_with_options(tmp_path, minilm_l3):
    source = tmp_path / "texts.txt"
    source.write_text("one\n\ntwo\nthree\n")
    output = tmp_path / "out.npy"
    assert main(["encode", str(source), "-o", str(output), "--normalize", "--truncate-dim", "64", *MODEL]) == 0
    got = np.load(output)
    assert (
        np.abs(got - minilm_l3.encode(["one", "two", "three"], truncate_dim=64, normalize_embeddings=True)).max() < 1e-6
    )


def test_encode_stdin_with_precision(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("alpha\nbeta\n"))
    assert main(["encode", "--precision", "ubinary", *MODEL]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and len(rows[0]["embedding"]) == 48


def test_similarity_prints_a_matrix(capsys):
    assert main(["similarity", "A man is eating food.", "A man eats bread.", "A plane takes off.", *MODEL]) == 0
    out = capsys.readouterr().out
    assert "similarity: cosine" in out
    first_row = out.splitlines()[2].split()
    assert first_row[-3:][0] == "1.000" and float(first_row[-2]) > float(first_row[-1])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["encode", "--input", "/no/such/file.txt"], "input file /no/such/file.txt does not exist"),
        (["encode", "x", "--truncate-dim", "0"], "truncate_dim must be a positive integer"),
        (["encode", "x", "--model", "/no/such/model-folder"], "model '/no/such/model-folder' was not found"),
    ],
)
def test_errors_are_reported_not_raised(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(argv) == 2
    assert message in capsys.readouterr().err
