"""The sentence-transformers 6 arguments of Pooling and Dense, checked against the reference in both directions."""

from __future__ import annotations

import warnings

import pytest
import torch

from sentembed.models import Dense, Pooling

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sentence_transformers.sentence_transformer.modules import Dense as ReferenceDense
    from sentence_transformers.sentence_transformer.modules import Pooling as ReferencePooling

POOLING_ARGUMENTS = [
    {},
    {"pooling_mode": "cls"},
    {"pooling_mode": ["max", "mean"]},
    {"pooling_mode": ("lasttoken",)},
    {"pooling_mode_cls_token": True},
    {"pooling_mode_max_tokens": True},
    {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True},
    {"pooling_mode_mean_tokens": False},
]


@pytest.mark.parametrize("arguments", POOLING_ARGUMENTS, ids=str)
def test_pooling_reads_its_arguments_as_the_reference_does(arguments):
    ours, theirs = Pooling(8, **arguments), ReferencePooling(8, **arguments)
    assert ours.pooling_mode == theirs.pooling_mode
    assert ours.embedding_dimension == theirs.embedding_dimension == 8
    assert ours.get_embedding_dimension() == theirs.get_embedding_dimension()
    assert ours.POOLING_MODES == theirs.POOLING_MODES


@pytest.mark.parametrize("arguments", POOLING_ARGUMENTS, ids=str)
def test_pooling_folders_load_both_ways(arguments, tmp_path):
    (tmp_path / "theirs").mkdir()
    Pooling(8, **arguments).save(str(tmp_path / "ours"))
    ReferencePooling(8, **arguments).save(str(tmp_path / "theirs"))
    assert ReferencePooling.load(str(tmp_path / "ours")).pooling_mode == Pooling(8, **arguments).pooling_mode
    assert Pooling.load(str(tmp_path / "theirs")).pooling_mode == ReferencePooling(8, **arguments).pooling_mode


def test_pooling_keeps_the_old_dimension_name_with_a_warning(caplog, monkeypatch):
    from sentembed.common import checks

    monkeypatch.setattr(checks, "_WARNED_RENAMES", set())
    assert Pooling(word_embedding_dimension=8).embedding_dimension == 8
    assert "word_embedding_dimension" in caplog.text
    with pytest.raises(TypeError, match="both"):
        Pooling(8, word_embedding_dimension=8)


def test_pooling_refuses_bad_arguments():
    with pytest.raises(ValueError, match="pooling mode"):
        Pooling(8, "bogus")
    with pytest.raises(ValueError, match="not both"):
        Pooling(8, "mean", pooling_mode_cls_token=True)
    with pytest.raises(ValueError, match="embedding_dimension"):
        Pooling(0)
    with pytest.raises(TypeError, match="unexpected"):
        Pooling(8, pooling_mode_means=True)


def flattened(tokens: torch.Tensor, mask: torch.Tensor, boundaries: str) -> dict:
    """Right-padded features laid out as transformers' DataCollatorWithFlattening does: one row of all real
    tokens, with the texts' boundaries as cumulative lengths or as position ids restarting at 0."""
    lengths = mask.sum(dim=1).tolist()
    flat = torch.cat([tokens[row, :length] for row, length in enumerate(lengths)]).unsqueeze(0)
    if boundaries == "cu_seq_lens":
        cumulative = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
        return {"token_embeddings": flat, "cu_seq_lens_q": cumulative, "cu_seq_lens_k": cumulative}
    return {"token_embeddings": flat, "position_ids": torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)}


@pytest.mark.parametrize("mode", Pooling.POOLING_MODES)
@pytest.mark.parametrize("boundaries", ["cu_seq_lens", "position_ids"])
def test_pooling_flattened_features_pool_as_the_padded_batch(mode, boundaries):
    torch.manual_seed(0)
    tokens = torch.randn(3, 6, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]])
    for include_prompt in (True, False):
        pooling = Pooling(4, pooling_mode=mode, include_prompt=include_prompt)
        padded = pooling({"token_embeddings": tokens, "attention_mask": mask, "prompt_length": 1})
        leaf = flattened(tokens, mask, boundaries)["token_embeddings"].clone().requires_grad_(True)
        features = {**flattened(tokens, mask, boundaries), "token_embeddings": leaf, "prompt_length": 1}
        pooled = pooling(features)["sentence_embedding"]
        torch.testing.assert_close(pooled, padded["sentence_embedding"])
        assert "attention_mask" not in features  # the caller's features gain the embedding only
        pooled.sum().backward()
        assert leaf.grad is not None and leaf.grad.abs().sum() > 0


def test_pooling_without_a_mask_counts_every_token_and_reads_a_tensor_prompt_length():
    tokens = torch.arange(24, dtype=torch.float).view(2, 3, 4)
    torch.testing.assert_close(Pooling(4)({"token_embeddings": tokens})["sentence_embedding"], tokens.mean(dim=1))
    no_prompt = Pooling(4, include_prompt=False)
    features = {"token_embeddings": tokens, "prompt_length": torch.tensor([1, 1])}
    torch.testing.assert_close(no_prompt(features)["sentence_embedding"], tokens[:, 1:].mean(dim=1))
    with pytest.raises(ValueError, match="Invalid pooling mode 'bogus'"):
        Pooling(4, "bogus")


DENSE_ARGUMENTS = [
    {"in_features": 4, "out_features": 3},
    {"in_features": 4, "out_features": 4, "use_residual": True},
    {"in_features": 4, "out_features": 6, "use_residual": True},
    {"in_features": 4, "out_features": 3, "module_input_name": "token_embeddings"},
    {"in_features": 4, "out_features": 3, "module_output_name": "projected"},
]


@pytest.mark.parametrize("arguments", DENSE_ARGUMENTS, ids=str)
def test_dense_outputs_equal_the_reference_both_ways(arguments, tmp_path):
    torch.manual_seed(0)
    theirs = ReferenceDense(**arguments)
    (tmp_path / "theirs").mkdir()
    theirs.save(str(tmp_path / "theirs"))
    ours = Dense.load(str(tmp_path / "theirs"))
    ours.save(str(tmp_path / "ours"))
    theirs_again = ReferenceDense.load(str(tmp_path / "ours"))
    name = arguments.get("module_input_name", "sentence_embedding")
    output = arguments.get("module_output_name", name)
    inputs = torch.randn(2, 5, 4) if name == "token_embeddings" else torch.randn(2, 4)
    expected = theirs({name: inputs})[output]
    torch.testing.assert_close(ours({name: inputs})[output], expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(theirs_again({name: inputs})[output], expected, atol=1e-6, rtol=0)


def test_dense_without_v6_options_saves_the_keys_older_references_read(tmp_path):
    Dense(4, 3).save(str(tmp_path))
    assert set(Dense.read_config(str(tmp_path))) == {"in_features", "out_features", "bias", "activation_function"}


def test_dense_names_the_missing_feature():
    with pytest.raises(ValueError, match="token_embeddings"):
        Dense(4, 3, module_input_name="token_embeddings")({"sentence_embedding": torch.zeros(1, 4)})


def test_encode_calls_modules_through_call_so_forward_hooks_fire(minilm_l3):
    seen = []
    handles = [
        minilm_l3.register_forward_hook(lambda module, inputs, output: seen.append("model")),
        minilm_l3[1].register_forward_hook(lambda module, inputs, output: seen.append(type(module).__name__)),
    ]
    try:
        minilm_l3.encode(["one sentence"])
        minilm_l3.encode(["and another"])
    finally:
        for handle in handles:
            handle.remove()
    assert seen == ["Pooling", "model", "Pooling", "model"]


def test_processor_kwargs_and_the_old_token_name():
    from sentembed import SentenceTransformer
    from tests.support.paths import MINILM_L3

    model = SentenceTransformer(str(MINILM_L3), device="cpu", processor_kwargs={"model_max_length": 64})
    assert model.tokenizer.model_max_length == 64
    with pytest.raises(TypeError, match="not both"):
        SentenceTransformer(str(MINILM_L3), processor_kwargs={}, tokenizer_kwargs={})
    with pytest.warns(FutureWarning, match="use_auth_token"):
        SentenceTransformer(str(MINILM_L3), device="cpu", use_auth_token=False)
    with pytest.raises(ValueError, match="Both `token` and `use_auth_token` were given"):
        SentenceTransformer(str(MINILM_L3), token=False, use_auth_token=False)


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-6), (torch.float16, 1e-3)])
def test_dense_keeps_the_precision_it_was_saved_in(tmp_path, minilm_l3, dtype, tolerance):
    from sentembed import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(modules=[*minilm_l3, Dense(384, 16)], device="cpu")
    expected = model.encode(["A man is eating food."], convert_to_tensor=True)
    model[2].to(dtype)
    model.save(str(tmp_path / "saved"))
    loaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert loaded[2].linear.weight.dtype == dtype  # the float32 modules before it feed it their output cast
    got = loaded.encode(["A man is eating food."], convert_to_tensor=True)
    assert got.dtype == dtype
    torch.testing.assert_close(got.float(), expected, atol=tolerance, rtol=0)


def test_dense_drops_config_keys_it_does_not_know_with_a_warning(tmp_path, caplog):
    import json

    Dense(4, 3, bias=False).save(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "future_option": 42}))
    loaded = Dense.load(str(tmp_path))
    assert (loaded.in_features, loaded.out_features, loaded.bias) == (4, 3, False)
    assert "future_option" in caplog.text and not hasattr(loaded, "future_option")
    assert loaded({"sentence_embedding": torch.randn(2, 4)})["sentence_embedding"].shape == (2, 3)


def test_pooling_uses_the_networks_cls_vector_and_zero_for_an_empty_row():
    tokens = torch.randn(2, 3, 4)
    given = torch.randn(2, 4)
    features = {"token_embeddings": tokens, "attention_mask": torch.ones(2, 3), "cls_token_embeddings": given}
    torch.testing.assert_close(Pooling(4, "cls")(features)["sentence_embedding"], given)
    empty = {"token_embeddings": torch.ones(1, 4, 4), "attention_mask": torch.zeros(1, 4)}
    assert torch.equal(Pooling(4, "lasttoken")(empty)["sentence_embedding"], torch.zeros(1, 4))


def test_pooling_legacy_flags_warn_but_old_folders_load_silently(tmp_path):
    with pytest.warns(FutureWarning, match="pooling_mode_"):
        assert Pooling(4, pooling_mode_cls_token=True, pooling_mode_mean_tokens=True).pooling_mode == ("cls", "mean")
    Pooling(4, "max").save(str(tmp_path))  # written in the legacy flag form
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Pooling.load(str(tmp_path)).pooling_mode == "max"


def test_transformer_takes_the_v6_option_names():
    from sentembed.models import Transformer
    from tests.support.paths import MINILM_L3

    module = Transformer(
        str(MINILM_L3),
        model_kwargs={"attn_implementation": "eager"},
        processor_kwargs={"model_max_length": 64},
        config_kwargs={"output_hidden_states": True},
    )
    assert module.auto_model.config._attn_implementation == "eager"
    assert module.tokenizer.model_max_length == 64
    assert module.auto_model.config.output_hidden_states is True
    old_names = Transformer(str(MINILM_L3), model_args={"attn_implementation": "eager"})
    assert old_names.auto_model.config._attn_implementation == "eager"
