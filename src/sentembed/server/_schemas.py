"""Request bodies of the routes: the OpenAI, TEI and Cohere/Jina shapes. Strict types, so that a number
is never read as a text nor a text as a number; fields a client adds beyond these are ignored."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EmbeddingsRequest(Body):
    """`POST /v1/embeddings` (OpenAI). `prompt_name` is our extension, for models with query/document prompts."""

    input: Union[StrictStr, list[StrictStr], list[StrictInt], list[list[StrictInt]]]
    model: StrictStr | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = Field(default=None, ge=1)
    user: StrictStr | None = None
    prompt_name: StrictStr | None = None


class EmbedRequest(Body):
    """`POST /embed` (TEI)."""

    inputs: Union[StrictStr, list[StrictStr]]
    normalize: StrictBool = True
    truncate: StrictBool = True
    prompt_name: StrictStr | None = None
    dimensions: StrictInt | None = Field(default=None, ge=1)


class RerankRequest(Body):
    """`POST /rerank` (TEI)."""

    query: StrictStr
    texts: list[StrictStr]
    raw_scores: StrictBool = False
    return_text: StrictBool = False
    truncate: StrictBool = True


class RerankDocument(Body):
    text: StrictStr


class CohereRerankRequest(Body):
    """`POST /v1/rerank` (Cohere and Jina): documents as strings or `{"text": ...}` objects."""

    query: StrictStr
    documents: list[Union[StrictStr, RerankDocument]]
    model: StrictStr | None = None
    top_n: StrictInt | None = Field(default=None, ge=1)
    return_documents: StrictBool = False


class SimilarityInputs(Body):
    source_sentence: StrictStr
    sentences: list[StrictStr]


class SimilarityRequest(Body):
    """`POST /similarity` (TEI): the source sentence scored against each sentence."""

    inputs: SimilarityInputs
    prompt_name: StrictStr | None = None
    truncate: StrictBool = True


class TokenizeRequest(Body):
    """`POST /tokenize` (TEI). `truncate` (our extension) cuts each text at the model's length, as `encode` does."""

    inputs: Union[StrictStr, list[StrictStr]]
    add_special_tokens: StrictBool = True
    truncate: StrictBool = True
    prompt_name: StrictStr | None = None


# The most hits one /search query may ask for.
MAX_SEARCH_HITS = 1000


class SearchRequest(Body):
    """`POST /search` (ours): the served store's hits for each query, as `EmbeddingStore.search` gives them."""

    query: Union[StrictStr, list[StrictStr]]
    top_k: StrictInt = Field(default=10, ge=1, le=MAX_SEARCH_HITS)
    mode: Literal["dense", "lexical", "hybrid"] = "dense"
    filter: dict[str, Any] | None = None
    return_texts: StrictBool = False
