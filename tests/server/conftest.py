"""The server tests' fixtures: a live server of all-MiniLM-L6-v2 and the WikiQA cross-encoder, and server
processes stopped after the test (defined in tests/support/server.py, which the security tests share)."""

from tests.support.server import client, embedding_model, reranker_model, server_url, stopping  # noqa: F401
