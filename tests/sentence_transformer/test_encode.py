"""encode() options, return types and bad input, on the real paraphrase-MiniLM-L3-v2 model."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer, SimilarityFunction
from tests.support.paths import MINILM_L3

TEXTS = ["A man is eating food.", "A man is riding a horse.", "A woman is playing violin."]


@pytest.fixture()
def model(minilm_l3) -> SentenceTransformer:
    """The shared model, with any prompt or setting a test changes put back afterwards."""
    state = (dict(minilm_l3.prompts), minilm_l3.default_prompt_name, minilm_l3.truncate_dim, minilm_l3.max_seq_length)
    yield minilm_l3
    minilm_l3.prompts, minilm_l3.default_prompt_name, minilm_l3.truncate_dim, minilm_l3.max_seq_length = state
    minilm_l3.similarity_fn_name = None


def test_return_types(model):
    assert model.encode(TEXTS).shape == (3, 384)
    assert isinstance(model.encode(TEXTS), np.ndarray) and model.encode(TEXTS).dtype == np.float32
    assert model.encode(TEXTS[0]).shape == (384,)
    tensor = model.encode(TEXTS, convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (3, 384)
    as_list = model.encode(TEXTS, convert_to_numpy=False)
    assert isinstance(as_list, list) and len(as_list) == 3 and as_list[0].shape == (384,)
    assert isinstance(model.encode(TEXTS[0], convert_to_tensor=True), torch.Tensor)


def test_precision_dtypes_and_shapes(model):
    assert model.encode(TEXTS, precision="int8").dtype == np.int8
    assert model.encode(TEXTS, precision="uint8").dtype == np.uint8
    assert model.encode(TEXTS, precision="binary").shape == (3, 48)
    assert model.encode(TEXTS, precision="ubinary").dtype == np.uint8
    assert model.encode(TEXTS, precision="int8", convert_to_tensor=True).dtype == torch.int8


def test_truncate_then_normalize_order(model):
    full = model.encode(TEXTS)
    got = model.encode(TEXTS, truncate_dim=64, normalize_embeddings=True)
    expected = full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True)
    assert np.allclose(got, expected, atol=1e-6)


def test_truncate_dim_everywhere(model):
    with model.truncate_embeddings(100):
        assert model.encode(TEXTS).shape == (3, 100)
        assert model.get_embedding_dimension() == 100
    assert model.encode(TEXTS).shape == (3, 384)
    truncated = SentenceTransformer(str(MINILM_L3), device="cpu", truncate_dim=32)
    assert truncated.encode(TEXTS).shape == (3, 32)
    assert truncated.encode([]).shape == (0, 32)


def test_duplicates_are_encoded_once_and_returned_everywhere(model):
    texts = [TEXTS[0], TEXTS[1], TEXTS[0], TEXTS[0]]
    got = model.encode(texts)
    assert np.array_equal(got[0], got[2]) and np.array_equal(got[0], got[3])
    assert np.allclose(got[:2], model.encode(TEXTS[:2]), atol=1e-6)


def test_prompts_priority(model):
    model.prompts = {"query": "query: ", "document": "passage: "}
    query = model.encode(TEXTS, prompt_name="query")
    assert np.allclose(query, model.encode(["query: " + text for text in TEXTS]), atol=1e-6)
    assert np.allclose(model.encode(TEXTS, prompt="x: ", prompt_name="query"), model.encode(["x: " + t for t in TEXTS]))
    assert np.allclose(model.encode_query(TEXTS), query)
    assert np.allclose(model.encode_document(TEXTS), model.encode(["passage: " + t for t in TEXTS]), atol=1e-6)
    model.default_prompt_name = "document"
    assert np.allclose(model.encode(TEXTS), model.encode(TEXTS, prompt_name="document"))


def test_output_value_none_gives_every_output(model):
    rows = model.encode(TEXTS, output_value=None)
    assert len(rows) == 3
    assert {"sentence_embedding", "token_embeddings", "attention_mask", "input_ids"} <= set(rows[0])
    assert torch.allclose(rows[1]["sentence_embedding"], model.encode(TEXTS, convert_to_tensor=True)[1], atol=1e-6)


def test_output_value_none_dicts_say_the_modality_and_the_prompt_length(model):
    plain = model.encode(TEXTS[:1], output_value=None)[0]
    assert plain["modality"] == "text" and "prompt_length" not in plain
    prompted = model.encode(TEXTS[:1], output_value=None, prompt="query: ")[0]
    assert prompted["prompt_length"] == model.prompt_length("query: ") == 3  # [CLS] query :
    assert {"input_ids", "attention_mask", "token_embeddings", "sentence_embedding"} <= set(prompted)


def test_output_value_none_truncates_the_sentence_embedding_only(model):
    full = model.encode(TEXTS, output_value=None)
    with model.truncate_embeddings(48):
        truncated = model.encode(TEXTS, output_value=None, normalize_embeddings=True)
    assert truncated[0]["sentence_embedding"].shape == (48,)
    assert torch.equal(truncated[2]["sentence_embedding"], full[2]["sentence_embedding"][:48])
    assert torch.equal(truncated[0]["token_embeddings"], full[0]["token_embeddings"])


def test_prompt_and_prompt_name_together_warn_that_prompt_wins(model, caplog):
    model.prompts = {"query": "query: ", "document": ""}
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        both = model.encode(TEXTS, prompt="x: ", prompt_name="query")
    assert np.allclose(both, model.encode(TEXTS, prompt="x: "), atol=1e-6)
    assert "Ignoring the `prompt_name` in favor of `prompt`" in caplog.text


class ScaledPooling(torch.nn.Module):
    """A toy module after pooling that reads an `encode` keyword argument: it multiplies the embedding."""

    forward_kwargs = ("scale",)

    def forward(self, features, scale: float = 1.0):
        return {**features, "sentence_embedding": features["sentence_embedding"] * scale}


def test_encode_keyword_arguments_reach_the_modules_that_declare_them():
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    plain = model.encode(TEXTS)
    model.append(ScaledPooling())
    assert model.get_model_kwargs() == ["scale"]
    np.testing.assert_allclose(model.encode(TEXTS, scale=2.0), 2 * plain, rtol=1e-5)
    np.testing.assert_allclose(model.encode(TEXTS), plain, rtol=1e-6)
    message = r"does not use: \['normalize'\].*valid additional keyword arguments are: \['scale'\]"
    with pytest.raises(ValueError, match=message):
        model.encode(TEXTS, normalize=True)


def test_token_embeddings_drop_padding(model):
    tokens = model.encode(
        ["short", "a much longer sentence with many more tokens in it"], output_value="token_embeddings"
    )
    assert tokens[0].shape == (3, 384)  # [CLS] short [SEP]
    assert tokens[1].shape[0] > tokens[0].shape[0]


def test_long_texts_are_truncated_with_one_warning(model, caplog):
    texts = ["word " * 1000, "word " * 500, "short"]
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        model.encode(texts)
    warnings = [record.message for record in caplog.records if "truncated" in record.message]
    assert warnings == ["2 of 3 texts were longer than max_seq_length=128 tokens and were truncated."]


def test_multi_megabyte_string_without_spaces(model):
    huge = "x" * 3_000_000
    embedding = model.encode(huge)
    assert embedding.shape == (384,) and np.isfinite(embedding).all()


def test_empty_inputs(model, reference_minilm_l3):
    assert model.encode([]).shape == (0, 384)
    assert model.encode([], convert_to_tensor=True).shape == (0, 384)
    assert model.encode([], output_value="token_embeddings") == []
    assert np.abs(model.encode([""]) - reference_minilm_l3.encode([""])).max() < 1e-5


@pytest.mark.parametrize("bad", [None, 3, b"bytes"])
def test_non_string_item_is_a_type_error_naming_its_index(model, bad):
    with pytest.raises(TypeError, match=r"inputs\[1\].*" + type(bad).__name__):
        model.encode(["fine", bad])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt_name": "nope"}, "Prompt name 'nope' not found in the configured prompts"),
        ({"precision": "int4"}, "Precision 'int4' is not supported"),
        ({"output_value": "pooled"}, "unknown output_value 'pooled'"),
        ({"truncate_dim": 0}, "truncate_dim must be a positive integer"),
        ({"truncate_dim": -3}, "truncate_dim must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"normalise": True}, r"keyword arguments that this model does not use: \['normalise'\]"),
    ],
)
def test_bad_options_are_value_errors(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.encode(TEXTS, **kwargs)


def test_similarity_functions(model):
    embeddings = model.encode(TEXTS)
    cosine = model.similarity(embeddings, embeddings)
    assert model.similarity_fn_name == "cosine"
    assert cosine.shape == (3, 3) and torch.allclose(cosine.diagonal(), torch.ones(3), atol=1e-5)
    assert model.similarity_pairwise(embeddings, embeddings).shape == (3,)
    model.similarity_fn_name = SimilarityFunction.EUCLIDEAN
    distances = model.similarity(embeddings, embeddings)
    assert (distances <= 1e-4).all() and distances[0, 1] < -1
    model.similarity_fn_name = "manhattan"
    assert model.similarity_pairwise(embeddings[:1], embeddings[1:2]).item() < -10
    with pytest.raises(ValueError, match="unknown similarity_fn_name 'jaccard'"):
        model.similarity_fn_name = "jaccard"


def test_max_seq_length_is_capped_at_what_the_model_supports(model):
    assert model.max_seq_length == 128
    model.max_seq_length = 100000
    assert model.max_seq_length == 512
    model.max_seq_length = 64
    assert model.tokenize(["word " * 200])["input_ids"].shape == (1, 64)
    with pytest.raises(ValueError, match="max_seq_length must be a positive integer"):
        model.max_seq_length = 0


def test_members(model):
    assert model.get_embedding_dimension() == 384
    assert model.get_max_seq_length() == 128
    assert model.device.type == "cpu"
    assert model.tokenizer.convert_tokens_to_ids("[CLS]") == 101
    features = model.tokenize(TEXTS)
    assert set(features) >= {"input_ids", "attention_mask"} and features["input_ids"].shape[0] == 3


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_output_dtype_matches_the_reference(dtype):
    """numpy output keeps float16, and turns bfloat16 (which numpy lacks) into float32, as the reference does."""
    from sentence_transformers import SentenceTransformer as Reference

    kwargs = {"device": "cpu", "model_kwargs": {"torch_dtype": getattr(torch, dtype)}}
    texts = ["half precision weights", "and the array type they give"]
    ours = SentenceTransformer(str(MINILM_L3), **kwargs).encode(texts)
    reference = Reference(str(MINILM_L3), **kwargs).encode(texts)
    assert ours.dtype == reference.dtype
    assert np.abs(ours.astype(np.float32) - reference.astype(np.float32)).max() <= 1e-2


def test_batches_follow_the_token_budget_of_their_device():
    from sentembed.common.batching import CPU_BUDGET, GPU_BUDGET, plan_batches

    lengths = [256] * 10 + [12] * 400
    on_cpu = plan_batches(lengths, 32, CPU_BUDGET)  # 32 x 48 = 1,536 padded tokens per batch
    assert [len(batch) for batch in on_cpu] == [6, 6, 128, 128, 128, 14]  # the second: 4 long texts, 2 short
    on_gpu = plan_batches(lengths, 32, GPU_BUDGET)  # long texts fill batch_size; short ones 4,096 tokens
    assert [len(batch) for batch in on_gpu] == [32, 341, 37]
    for batches in (on_cpu, on_gpu):
        assert sorted(index for batch in batches for index in batch) == list(range(len(lengths)))
    assert plan_batches([500, 400], 1, CPU_BUDGET) == [[0], [1]]


def test_embed_rows_on_lanes_equals_one_batch_after_another_and_runs_them_in_inference_mode(minilm_l3, sts_sentences):
    rows, _ = minilm_l3.input_module.tokenize_unpadded(sts_sentences[:40])
    seen: list[tuple[str, bool]] = []

    def note(module, inputs):
        seen.append((threading.current_thread().name, torch.is_inference_mode_enabled()))

    hook = minilm_l3[0].register_forward_pre_hook(note)
    try:
        alone = minilm_l3.embed_rows(rows, batch_size=1)
        with ThreadPoolExecutor(2, thread_name_prefix="lane") as lanes:
            on_lanes = minilm_l3.embed_rows(rows, batch_size=1, executor=lanes)
    finally:
        hook.remove()
    torch.testing.assert_close(on_lanes, alone, atol=1e-6, rtol=0)
    half = len(seen) // 2  # batch_size=1 asks for 48 padded tokens a batch: about 3 short sentences each
    assert half >= 8 and {name for name, _ in seen[:half]} == {"MainThread"}
    assert {name for name, _ in seen[half:]} == {"lane_0", "lane_1"}
    assert all(inference for _, inference in seen)


def test_keyword_arguments_declared_on_standard_modules_are_accepted():
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    plain = model.encode(TEXTS)
    model[0].forward_kwargs = {"foo"}
    model[1].forward_kwargs = {"bar"}
    assert model.get_model_kwargs() == ["bar", "foo"]
    np.testing.assert_allclose(model.encode(TEXTS, foo=True, bar=1), plain, atol=1e-6)  # taken, not used
