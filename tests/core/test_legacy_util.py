"""The sentence-transformers 2 helpers old scripts still call: `util.http_get`, `util.pytorch_cos_sim`, and
the cross-encoder trainer's import path."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
import torch

from sentembed import util


@pytest.fixture()
def file_server(tmp_path):
    """A local HTTP server over a folder holding one file; yields (base url, file bytes)."""
    served = tmp_path / "served"
    served.mkdir()
    payload = ("sentence one\tsentence two\t4.2\n" * 5000).encode()
    (served / "data.tsv").write_bytes(payload)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", payload
    finally:
        server.shutdown()
        server.server_close()


def test_http_get_downloads_into_a_new_folder(file_server, tmp_path):
    base, payload = file_server
    target = tmp_path / "downloads" / "nested" / "data.tsv"
    util.http_get(f"{base}/data.tsv", str(target))
    assert target.read_bytes() == payload
    assert [path.name for path in target.parent.iterdir()] == ["data.tsv"]  # no temporary file left


def test_http_get_failures_name_the_address(file_server, tmp_path):
    base, _ = file_server
    target = tmp_path / "missing.tsv"
    with pytest.raises(OSError, match=r"downloading .*/missing.tsv failed: HTTP 404"):
        util.http_get(f"{base}/missing.tsv", str(target))
    assert not target.exists()
    with pytest.raises(ValueError, match="http:// or https://"):
        util.http_get("file:///etc/passwd", str(target))


def test_pytorch_cos_sim_is_cos_sim():
    a, b = torch.randn(3, 8), torch.randn(4, 8)
    torch.testing.assert_close(util.pytorch_cos_sim(a, b), util.cos_sim(a, b))
    torch.testing.assert_close(util.pytorch_cos_sim(a[0], a[0]), torch.ones(1, 1))


def test_cross_encoder_trainer_imports_from_the_cross_encoder_package():
    from sentembed.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentembed.training.cross_encoder.trainer import CrossEncoderTrainer as Trainer

    assert CrossEncoderTrainer is Trainer
    assert CrossEncoderTrainingArguments.__name__ == "CrossEncoderTrainingArguments"
