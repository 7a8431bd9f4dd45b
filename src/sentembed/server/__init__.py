"""An HTTP server for embeddings and re-ranking: OpenAI, TEI and Cohere/Jina routes, with dynamic batching.

Needs the `serve` extra: `pip install "sentembed[serve]"`.
"""

from sentembed.common.errors import ServerError
from sentembed.server._app import create_app, load_models, serve
from sentembed.server._errors import ApiError
from sentembed.server._settings import ServeSettings

__all__ = ["ApiError", "ServeSettings", "ServerError", "create_app", "load_models", "serve"]
