"""The server's limits, with TEI's defaults where TEI has one."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sentembed.common.checks import check_positive_float, check_positive_int

# OpenAI's own limit on inputs per /v1/embeddings request; clients written for it send this many.
OPENAI_MAX_INPUTS = 2048
# The most lanes `serve` takes by itself (on torch with packed weights, onnx and openvino); more cores go to
# each lane's threads, or to `--workers`.
DEFAULT_LANES = 2
# The server's batch size on torch, and on onnx and openvino, where a batch costs little beyond its rows
# and smaller ones pad less and spread better over the lanes (on 2 cores, 4 against 8: 12% more single
# sentences per second at concurrency 64 with onnx fp32, 19% more with int8).
BATCH_SIZE = 8
GRAPH_BATCH_SIZE = 4


@dataclass(frozen=True)
class ServeSettings:
    """How much the server takes at once, who may call it, and what it calls its models.

    `max_client_batch_size` bounds the inputs of one TEI-style request; `/v1/embeddings` takes up to
    2,048 (OpenAI's limit) when that is larger. `api_key` protects every route but `/health`.
    `header_timeout` (seconds) closes a connection whose request headers have not arrived that long after it
    opened or after its previous response; `body_timeout` answers 408 to a body not in full that long after
    its headers (applied by `serve` and `uvicorn_config`; the body timeout by the app itself).
    `served_model_names` are more names a request's `model` may give for the embedding model (besides
    `model_name`); the first of them is the name answers and `/v1/models` give. `cache_path` is an
    `EmbeddingCache` file the server reads and writes, so that texts it has embedded before skip the model.
    `store_path` is an `EmbeddingStore` folder that `POST /search` searches (made with the served model).

    Attributes:
        max_concurrent_requests: Requests handled at once; more get 429. Default 512.
        max_batch_tokens: The most tokens one model run collects across requests (and /tokenize returns).
            Default 16384.
        max_client_batch_size: The most inputs of one TEI-style request. Default 32.
        payload_limit: The largest request body, in bytes; larger gets 413. Default 2,000,000.
        batch_size: Inputs per model batch, across requests. Default None: `serve` takes `GRAPH_BATCH_SIZE`
            (4) on onnx and openvino and `BATCH_SIZE` (8) on torch, as does an app from `create_app` alone. A
            run of many short requests is cut into batches of rows of like length, and small batches pad less
            (30 STSb sentences in batches of 32 are 42% real tokens and 58% padding; in batches of 8, 82% real).
        header_timeout: Seconds to wait for a request's headers. Default 10.
        body_timeout: Seconds to wait for a request's body after its headers. Default 30.
        api_key: The bearer token every route but /health needs. Default None: none.
        cors_origins: Origins browsers may call from. Default (): none.
        model_name: The embedding model's name in requests and answers. Default "sentembed".
        reranker_name: The reranker's name. Default "sentembed-reranker".
        served_model_names: More names for the embedding model. Default ().
        cache_path: An `EmbeddingCache` file to read and write. Default None.
        store_path: An `EmbeddingStore` folder for POST /search. Default None.
        lanes: Batches computed at once on a CPU, each on its own thread with its share of the cores (`serve`
            gives each lane cores // lanes threads), while the next run is taken; a run of one batch is
            computed with every thread. Default None: `serve` takes one lane per core, at most
            `DEFAULT_LANES`, on the onnx and openvino backends and on torch (and for loaded models) with
            `packed_weights`, and one on torch without; an app made with `create_app` alone runs one batch at
            a time.
        packed_weights: Whether `serve` gives the torch models it serves on the CPU a oneDNN-packed copy of
            their linear layers' weights (`sentembed.backend.pack_linear_weights`): the same results, faster on
            short inputs, at the cost of those weights' memory a second time. Default True.

    Raises:
        ValueError: A limit or timeout that is not positive, or an empty api_key.
        TypeError: Origins, names or paths that are not strings.
    """

    max_concurrent_requests: int = 512
    max_batch_tokens: int = 16_384
    max_client_batch_size: int = 32
    payload_limit: int = 2_000_000
    batch_size: int | None = None
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    model_name: str = "sentembed"
    reranker_name: str = "sentembed-reranker"
    served_model_names: tuple[str, ...] = ()
    cache_path: str | None = None
    store_path: str | None = None
    lanes: int | None = None
    packed_weights: bool = True

    def __post_init__(self) -> None:
        limits = ("max_concurrent_requests", "max_batch_tokens", "max_client_batch_size", "payload_limit")
        for name in limits:
            check_positive_int(getattr(self, name), name)
        for name in ("batch_size", "lanes"):
            check_positive_int(getattr(self, name), name, optional=True)
        for name in ("header_timeout", "body_timeout"):
            check_positive_float(getattr(self, name), f"{name} (seconds)")
        if not isinstance(self.packed_weights, bool):
            raise TypeError(f"packed_weights must be True or False, not {self.packed_weights!r}")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key.strip()):
            raise ValueError("api_key must be a non-empty string, or None for no key")
        if isinstance(self.cors_origins, str) or not all(isinstance(o, str) for o in self.cors_origins):
            raise TypeError("cors_origins must be a sequence of origin strings, e.g. ('https://example.com',)")
        names = self.served_model_names
        if isinstance(names, str) or not all(isinstance(name, str) and name.strip() for name in names):
            raise TypeError("served_model_names must be a sequence of non-empty name strings, e.g. ('text-embedding',)")
        if self.cache_path is not None and (not isinstance(self.cache_path, str) or not self.cache_path):
            raise TypeError("cache_path must be a file path string, or None for no cache")
        if self.store_path is not None and (not isinstance(self.store_path, str) or not self.store_path):
            raise TypeError("store_path must be a store folder path string, or None for no /search")

    @property
    def model_names(self) -> tuple[str, ...]:
        """Every name a request may give the embedding model: the aliases first, then the model's own name."""
        return tuple(dict.fromkeys([*self.served_model_names, self.model_name]))

    @property
    def openai_max_inputs(self) -> int:
        """The most inputs one `/v1/embeddings` request may carry."""
        return max(self.max_client_batch_size, OPENAI_MAX_INPUTS)


def is_loopback_host(host: str) -> bool:
    """Whether `host` is reachable from this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
