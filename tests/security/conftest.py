"""The security tests use the server tests' live servers (tests/support/server.py) and the root conftest's
SciFact embeddings."""

from contextlib import suppress

import pytest

with suppress(pytest.skip.Exception):  # without the serve extra, only the server attacks are skipped
    from tests.support.server import client, embedding_model, reranker_model, server_url  # noqa: F401
