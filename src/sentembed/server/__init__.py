"""An HTTP server for embeddings and re-ranking: OpenAI, TEI and Cohere/Jina routes, with dynamic batching.

Needs the `serve` extra: `pip install "sentembed[serve]"`.
"""

from sentembed.common.errors import ServerError
from sentembed.server.app import create_app, load_models, serve
from sentembed.server.errors import ApiError
from sentembed.server.settings import ServeSettings

__all__ = ["ApiError", "ServeSettings", "ServerError", "create_app", "load_models", "serve"]
