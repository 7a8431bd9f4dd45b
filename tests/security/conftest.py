"""The security tests use the search tests' SciFact embeddings and the server tests' live servers."""

from contextlib import suppress

import pytest

from tests.search.conftest import scifact_1k  # noqa: F401

with suppress(pytest.skip.Exception):  # without the serve extra, only the server attacks are skipped
    from tests.server.conftest import client, embedding_model, reranker_model, server_url  # noqa: F401
