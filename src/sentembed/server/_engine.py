"""The model side of the server: tokenizing a request as it arrives, and running many requests' rows in one
model call. Tokenizers are not safe to share between threads (a fast tokenizer's truncation is a setting),
so every tokenizer call of one model goes through that model's lock."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import tokenizers
import torch

from sentembed.cache import EmbeddingCache, entry_keys
from sentembed.common.errors import CacheDamagedError
from sentembed.common.runtime import BatchesInFlight
from sentembed.common.types import Row
from sentembed.cross_encoder import CrossEncoder
from sentembed.models.transformer import CHARACTERS_PER_TOKEN, bounded_prefix
from sentembed.sentence_transformer import SentenceTransformer, cache_key_parts
from sentembed.server._batcher import Job
from sentembed.server._errors import ApiError
from sentembed.server._metrics import Metrics


@dataclass
class Tokenized:
    """A request's token rows, their token count, how many inputs were cut, and the model features it needs."""

    rows: list[Row]
    tokens: int
    truncated: int
    features: dict[str, Any]


def backend_tokenizer(tokenizer: Any) -> Any:
    """The `tokenizers.Tokenizer` behind a transformers fast tokenizer (or the tokenizer itself)."""
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def vocabulary_size(tokenizer: Any) -> int:
    backend = backend_tokenizer(tokenizer)
    return backend.get_vocab_size(with_added_tokens=True)


def split_rows(outputs: torch.Tensor, jobs: list[Job]) -> list[torch.Tensor]:
    """One model output for the rows of several jobs, cut back into one tensor per job (on the CPU)."""
    outputs = outputs.float().cpu()
    parts, start = [], 0
    for job in jobs:
        parts.append(outputs[start : start + len(job.rows)])
        start += len(job.rows)
    return parts


@contextmanager
def plain_backend(tokenizer: Any, max_length: int | None) -> Iterator[Any]:
    """The `tokenizers.Tokenizer` behind `tokenizer`, set to pad nothing and cut at `max_length` tokens (None:
    cut nothing) while the block runs; its own settings (a fresh `tokenizer.json` may ask for padding) after."""
    backend = backend_tokenizer(tokenizer)
    truncation, padding = backend.truncation, backend.padding
    backend.no_padding()
    if max_length is None:
        backend.no_truncation()
    else:
        backend.enable_truncation(max_length)
    try:
        yield backend
    finally:
        if truncation:
            backend.enable_truncation(**truncation)
        else:
            backend.no_truncation()
        if padding:
            backend.enable_padding(**padding)


def encode_capped(backend: Any, text: str, cap: int, add_special_tokens: bool) -> Any:
    """`text`'s encoding cut at `cap` tokens (the backend must cut at `cap`), reading only a bounded prefix of
    a long text, as `encode` does: the whole text only where that prefix holds fewer tokens."""
    prefix, shortened = bounded_prefix(text, cap * CHARACTERS_PER_TOKEN)
    encoding = backend.encode(prefix, add_special_tokens=add_special_tokens)
    if shortened and not encoding.overflowing:
        encoding = backend.encode(text, add_special_tokens=add_special_tokens)
    return encoding


def token_entries(encoding: Any) -> list[dict[str, Any]]:
    """An encoding's tokens: id, token text, whether special, and character offsets (None for special tokens)."""
    return [
        {
            "id": token_id,
            "text": token,
            "special": bool(special),
            "start": None if special else start,
            "stop": None if special else stop,
        }
        for token_id, token, special, (start, stop) in zip(
            encoding.ids, encoding.tokens, encoding.special_tokens_mask, encoding.offsets, strict=True
        )
    ]


def at_the_limit(rows: list[Row], max_length: int | None) -> list[int]:
    """Which rows are `max_length` tokens long (only those can have been cut)."""
    return [index for index, row in enumerate(rows) if max_length is None or len(row["input_ids"]) >= max_length]


def per_thread_counts() -> bool:
    """Whether torch's thread count is kept per calling thread (OpenMP builds), so that two lanes can compute
    with different counts; torch's own thread pool has one count for the process."""
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


# A batch alone with fewer padded tokens than this computes faster on one thread than on two, outside the
# main thread (2 cores, packed all-MiniLM-L6-v2: one sentence 8.8 against 14.5 ms, four 19.0 against 20.3;
# eight, 80 tokens, level; one 256-token abstract 77 against 67 ms). benchmarks/packed_weights.py.
MIN_TOKENS_FOR_EVERY_THREAD = 64
# Marks the threads of the server's lanes (see `mark_lane_thread`).
LANE_THREAD = threading.local()


def mark_lane_thread() -> None:
    """The lanes' thread initializer: a batch computed on a lane is one of a run's several (see `SharedThreads`)."""
    LANE_THREAD.marked = True


def padded_tokens(args: Any) -> float:
    """The padded tokens of the batch a model is called with (its features' input_ids); infinite if unknown."""
    features = args[0] if args and isinstance(args[0], dict) else {}
    input_ids = features.get("input_ids")
    return input_ids.numel() if isinstance(input_ids, torch.Tensor) else float("inf")


class SharedThreads:
    """torch's threads shared by the batches that torch models compute at once on the server: a run of one
    batch of at least `MIN_TOKENS_FOR_EVERY_THREAD` padded tokens, computed in the run's own thread while no
    other batch computes, takes every thread; a smaller one, a batch on a lane (one of a run's several,
    computed side by side) or one beside another takes its lane's share (threads // lanes). The count is set
    before each call of the models it is attached to, in the thread that computes it."""

    def __init__(self, threads: int, share: int) -> None:
        """
        Args:
            threads: every thread the process computes with.
            share: each lane's threads (`lane_threads`).
        """
        self.threads = threads
        self.share = share
        self._batches = BatchesInFlight()

    def attach(self, model: torch.nn.Module) -> None:
        """Count `model`'s calls (one per batch) and set the calling thread's torch threads before each."""
        model.register_forward_pre_hook(self._starting)
        model.register_forward_hook(self._finished, always_call=True)

    def _starting(self, module: torch.nn.Module, args: Any) -> None:
        alone = self._batches.start() and not getattr(LANE_THREAD, "marked", False)
        every_thread = alone and padded_tokens(args) >= MIN_TOKENS_FOR_EVERY_THREAD
        torch.set_num_threads(self.threads if every_thread else self.share)

    def _finished(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        self._batches.finish()


class TextModel:
    """What both engines share: the tokenizer lock, token-id decoding and `/tokenize`."""

    def __init__(self, tokenizer: Any, max_length: int | None) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.lock = threading.RLock()  # re-entrant: the event loop holds it while it tokenizes a small request
        self.template = self._special_template()

    def _special_template(self) -> tuple[list[int], list[int]]:
        """The special token ids the tokenizer puts before and after a text's own ids ([CLS] and [SEP]); none
        known for a tokenizer without a `tokenizers` backend."""
        if not isinstance(backend_tokenizer(self.tokenizer), tokenizers.Tokenizer):
            return [], []
        with plain_backend(self.tokenizer, None) as backend:
            marked = backend.encode("a", add_special_tokens=True).ids
            plain = backend.encode("a", add_special_tokens=False).ids
        for start in range(len(marked) - len(plain) + 1):
            if marked[start : start + len(plain)] == plain:
                return marked[:start], marked[start + len(plain) :]
        return [], []

    def _without_template(self, ids: list[int]) -> list[int]:
        """Token ids less the leading and trailing special tokens the tokenizer adds itself (and adds again)."""
        before, after = self.template
        if before and ids[: len(before)] == before:
            ids = ids[len(before) :]
        if after and ids[len(ids) - len(after) :] == after:
            ids = ids[: len(ids) - len(after)]
        return ids

    def decode_ids(self, sequences: list[list[int]]) -> list[str]:
        """Token-id inputs as the texts they spell, so they are encoded as texts are; ids must be this model's.
        Ids that already start and end with the tokenizer's special tokens do not get them twice."""
        size = vocabulary_size(self.tokenizer)
        cores = []
        for index, ids in enumerate(sequences):
            if not ids:
                raise ApiError(422, f"input[{index}] is an empty list of token ids", f"input[{index}]", "empty_input")
            bad = next((token for token in ids if not 0 <= token < size), None)
            if bad is not None:
                message = f"input[{index}] holds token id {bad}, outside this model's vocabulary of {size}"
                raise ApiError(422, message, f"input[{index}]", "invalid_token_id")
            cores.append(self._without_template(ids))
            if not cores[-1]:
                message = f"input[{index}] holds only the model's special tokens, no text"
                raise ApiError(422, message, f"input[{index}]", "empty_input")
        with self.lock:
            return [self.tokenizer.decode(ids) for ids in cores]

    def tokens(
        self, texts: list[str], add_special_tokens: bool, truncate: bool, budget: int
    ) -> list[list[dict[str, Any]]]:
        """Each text's tokens (see `token_entries`). With `truncate`, each is cut at the model's length, as
        `encode` cuts it; otherwise texts are whole, and more than `budget` tokens in all are a 413."""
        if truncate and self.max_length is not None:
            with self.lock, plain_backend(self.tokenizer, self.max_length) as backend:
                encodings = [encode_capped(backend, text, self.max_length, add_special_tokens) for text in texts]
            return [token_entries(encoding) for encoding in encodings]
        encodings, used = [], 0
        with self.lock:
            for index, text in enumerate(texts):
                with plain_backend(self.tokenizer, budget - used + 1) as backend:
                    encodings.append(encode_capped(backend, text, budget - used + 1, add_special_tokens))
                used += len(encodings[-1])
                if used > budget:
                    message = (
                        f"inputs hold more than {budget} tokens in all (at inputs[{index}]); this server answers "
                        "at most that many at once: send truncate=true or fewer texts"
                    )
                    raise ApiError(413, message, "inputs", "too_many_tokens")
        return [token_entries(encoding) for encoding in encodings]


class ServerCache:
    """The server's `EmbeddingCache`: bound to the model when the server starts, then read and written by the
    inference thread alone (a SQLite connection belongs to the thread that opens it). Its keys are the ones
    `encode(cache=...)` uses, so the server and the library share one file."""

    def __init__(self, path: str, model: SentenceTransformer, metrics: Metrics) -> None:
        with EmbeddingCache(path, model=model) as cache:  # a damaged file, or another model's, fails here
            self.fingerprint = cache.model_fingerprint
        self.path = path
        self.model = model
        self.metrics = metrics
        self._parts: dict[str | None, dict[str, Any]] = {}
        self._cache: EmbeddingCache | None = None

    def keys(self, texts: list[str], prompt: str | None) -> list[bytes]:
        """Each text's entry key under this model and prompt."""
        if prompt not in self._parts:
            parts = cache_key_parts(self.model, prompt, "sentence_embedding")
            self._parts[prompt] = {**parts, "model": self.fingerprint}
        return entry_keys(self._parts[prompt], texts)

    def _opened(self) -> EmbeddingCache:
        if self._cache is None:
            self._cache = EmbeddingCache(self.path)
            self._cache.check_model(self.fingerprint)
        return self._cache

    def get(self, keys: list[bytes], width: int | None) -> dict[int, torch.Tensor]:
        """The cached rows of `keys` by position, each checked to be a finite vector of `width` values."""
        found = self._opened().get_many(keys)
        for row in found.values():
            if row.ndim != 1 or (width is not None and row.shape[0] != width) or not bool(torch.isfinite(row).all()):
                raise CacheDamagedError(
                    f"{self.path}: an entry is not a finite vector of {width} values; clear the cache"
                )
        self.metrics.cache_hits.inc(len(found))
        self.metrics.cache_misses.inc(len(keys) - len(found))
        return found

    def put(self, keys: list[bytes], rows: torch.Tensor) -> None:
        """Store fresh rows (rows holding NaN or inf are never written)."""
        finite = [index for index in range(len(keys)) if bool(torch.isfinite(rows[index]).all())]
        self._opened().put_many([keys[index] for index in finite], [rows[index] for index in finite])


class Embedder(TextModel):
    """A SentenceTransformer behind the server, with the server's cache if it has one."""

    def __init__(
        self,
        model: SentenceTransformer,
        batch_size: int,
        cache: ServerCache | None = None,
        lanes: Executor | None = None,
    ) -> None:
        """
        Args:
            model: the served model.
            batch_size: texts per model batch.
            cache: the server's cache, or None.
            lanes: threads that compute a run's batches at once, or None (one after another).
        """
        limit = model.max_seq_length
        super().__init__(model.tokenizer, limit if isinstance(limit, int) else None)
        self.model = model
        self.batch_size = batch_size
        self.lanes = lanes
        self.dimension = model.get_embedding_dimension()
        self.cache = cache

    def prompt(self, prompt_name: str | None) -> str | None:
        """The prompt `encode(prompt_name=...)` would apply, or a 422 naming the prompts the model has."""
        try:
            return self.model.resolve_prompt(None, prompt_name)
        except ValueError as error:
            raise ApiError(422, str(error), "prompt_name", "unknown_prompt") from None

    @staticmethod
    def prompted(texts: list[str], prompt: str | None) -> list[str]:
        """The texts as the model reads them: the prompt, if any, in front of each."""
        return [prompt + text for text in texts] if prompt else texts

    def tokenize(self, texts: list[str], prompt: str | None) -> Tokenized:
        """Token rows exactly as `encode` makes them (prompt first, cut at `max_seq_length`)."""
        with self.lock:
            rows, truncated = self.model.input_module.tokenize_unpadded(self.prompted(texts, prompt))
            features = {"prompt_length": self.model.prompt_length(prompt)} if prompt else {}
        tokens = sum(len(row["input_ids"]) for row in rows)
        return Tokenized(rows, tokens, truncated, features)

    def first_cut(self, texts: list[str], rows: list[Row], param: str) -> str:
        """The first of `texts` (as the model reads them) cut at the model's length, as `param[index]`. Only
        rows that reached the length are looked at again, each alone, as `encode` reads it (bounded)."""
        with self.lock:
            for index in at_the_limit(rows, self.max_length):
                if self.model.input_module.tokenize_unpadded([texts[index]])[1]:
                    return f"{param}[{index}]"
        return param

    def run(self, key: Hashable, jobs: list[Job]) -> list[torch.Tensor]:
        """Raw sentence embeddings of several jobs' rows (one prompt between them) from one `embed_rows` call;
        with a cache, only the rows it lacks reach the model, each distinct text once."""
        rows = [row for job in jobs for row in job.rows]
        if self.cache is None:
            return split_rows(self.model.embed_rows(rows, self.batch_size, jobs[0].features, executor=self.lanes), jobs)
        keys = [entry for job in jobs for entry in job.cache_keys]
        found = self.cache.get(keys, self.dimension)
        missing = list(dict.fromkeys(entry for index, entry in enumerate(keys) if index not in found))
        if missing:
            first = {entry: index for index, entry in reversed(list(enumerate(keys)))}
            fresh = self.model.embed_rows(
                [rows[first[entry]] for entry in missing], self.batch_size, jobs[0].features, executor=self.lanes
            )
            fresh = fresh.float().cpu()
            self.cache.put(missing, fresh)
            by_key = dict(zip(missing, fresh, strict=True))
            found.update({index: by_key[entry] for index, entry in enumerate(keys) if index not in found})
        return split_rows(torch.stack([found[index] for index in range(len(keys))]), jobs)


class Reranker(TextModel):
    """A CrossEncoder behind the server; it gives one relevance score per (query, text) pair."""

    def __init__(self, model: CrossEncoder, batch_size: int, lanes: Executor | None = None) -> None:
        """
        Args:
            model: the served cross-encoder (one output).
            batch_size: pairs per model batch.
            lanes: threads that compute a run's batches at once, or None (one after another).
        """
        if model.num_labels != 1:
            raise ValueError(f"a reranker must give one score per pair; this cross-encoder has {model.num_labels}")
        super().__init__(model.tokenizer, model.max_length)
        self.model = model
        self.batch_size = batch_size
        self.lanes = lanes

    def tokenize(self, query: str, texts: list[str]) -> Tokenized:
        with self.lock:
            rows, truncated = self.model.classifier.tokenize_pairs_unpadded([(query, text) for text in texts])
        return Tokenized(rows, sum(len(row["input_ids"]) for row in rows), truncated, {})

    def first_cut(self, query: str, texts: list[str], rows: list[Row]) -> str:
        """`query` if the query alone is longer than the model takes, else the first `texts[index]` whose pair
        with the query is cut. The query is read once, and only pairs that reached the length again."""
        classifier = self.model.classifier
        with self.lock:
            if classifier.tokenize_pairs_unpadded([(query, "")])[1]:
                return "query"
            for index in at_the_limit(rows, self.max_length):
                if classifier.tokenize_pairs_unpadded([(query, texts[index])])[1]:
                    return f"texts[{index}]"
        return "texts"

    def run(self, key: Hashable, jobs: list[Job]) -> list[torch.Tensor]:
        """Logits of several jobs' pairs from one `score_rows` call."""
        rows = [row for job in jobs for row in job.rows]
        return split_rows(self.model.score_rows(rows, self.batch_size, executor=self.lanes).reshape(-1), jobs)

    def scores(self, logits: torch.Tensor, raw: bool) -> list[float]:
        """Relevance scores: the model's activation applied, unless `raw`."""
        return (logits if raw else self.model.scores_from_logits(logits.reshape(-1, 1))).reshape(-1).tolist()
