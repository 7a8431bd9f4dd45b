"""Router (and its old name Asym): a module stack per route, chosen by encode_query / encode_document /
encode(task=...), round-tripping with the reference; training with router_mapping and learning_rate_mapping.

Dense heads and static token vectors here are seeded random: they test routing, folders and training mechanics.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from sentembed import SentenceTransformer
from sentembed.cache import EmbeddingCache
from sentembed.models import (
    Asym,
    Dense,
    Normalize,
    Pooling,
    Router,
    StaticEmbedding,
    WhitespaceTokenizer,
    WordEmbeddings,
)
from tests.support.data import read_wikiqa
from tests.support.paths import MINILM_L3, minilm_l6_folder


@pytest.fixture(scope="module")
def texts(sts_sentences) -> list[str]:
    return sts_sentences[:24]


@pytest.fixture(scope="module")
def reference_router_folder(tmp_path_factory) -> Path:
    """The reference's Router over one shared paraphrase-MiniLM-L3-v2 and pooling, with a different seeded
    Dense head per route (the document head then normalised)."""
    import sentence_transformers.models as ref
    from sentence_transformers import SentenceTransformer as Reference

    torch.manual_seed(0)
    transformer, pooling = ref.Transformer(str(MINILM_L3)), ref.Pooling(384)
    router = ref.Router.for_query_document(
        [transformer, pooling, ref.Dense(384, 32)],
        [transformer, pooling, ref.Dense(384, 32), ref.Normalize()],
    )
    folder = tmp_path_factory.mktemp("router") / "reference"
    Reference(modules=[router], device="cpu").save(str(folder))
    return folder


def router_outputs(model, texts: list[str]) -> dict[str, np.ndarray]:
    return {
        "query": model.encode_query(texts),
        "document": model.encode_document(texts),
        "task=query": model.encode(texts, task="query"),
        "no task": model.encode(texts),
    }


def assert_outputs_close(ours: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    for name, values in expected.items():
        np.testing.assert_allclose(ours[name], values, atol=1e-5, err_msg=name)


def test_a_reference_router_loads_and_routes(reference_router_folder, texts):
    from sentence_transformers import SentenceTransformer as Reference

    expected = router_outputs(Reference(str(reference_router_folder), device="cpu"), texts)
    assert np.abs(expected["query"] - expected["document"]).max() > 0.1  # the routes differ
    ours = SentenceTransformer(str(reference_router_folder), device="cpu")
    assert isinstance(ours[0], Router) and ours[0].default_route == "document"
    assert ours[0].sub_modules["query"][0] is ours[0].sub_modules["document"][0]  # one shared Transformer
    assert_outputs_close(router_outputs(ours, texts), expected)
    np.testing.assert_allclose(expected["no task"], expected["document"], atol=1e-6)


def test_our_router_loads_in_the_reference(reference_router_folder, texts, tmp_path):
    from sentence_transformers import SentenceTransformer as Reference

    ours = SentenceTransformer(str(reference_router_folder), device="cpu")
    ours.save(str(tmp_path / "ours"))
    saved = json.loads((tmp_path / "ours" / "router_config.json").read_text())
    original = json.loads((reference_router_folder / "router_config.json").read_text())
    assert saved["structure"] == original["structure"]
    assert saved["parameters"] == original["parameters"]
    assert sorted(saved["types"]) == sorted(original["types"])
    entries = json.loads((tmp_path / "ours" / "modules.json").read_text())
    assert [(entry["path"], entry["type"]) for entry in entries] == [("", "sentence_transformers.models.Router")]
    assert_outputs_close(
        router_outputs(Reference(str(tmp_path / "ours"), device="cpu"), texts), router_outputs(ours, texts)
    )


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(minilm_l6_folder() / "tokenizer.json"))


def seeded_static(tokenizer: Tokenizer, seed: int, dimension: int = 16) -> StaticEmbedding:
    table = torch.randn(tokenizer.get_vocab_size(), dimension, generator=torch.Generator().manual_seed(seed))
    return StaticEmbedding(tokenizer, embedding_weights=table)


def named_routes_model(tokenizer: Tokenizer) -> SentenceTransformer:
    """Two static routes named "short" and "long", no default route, and a (task, modality) mapping."""
    router = Router(
        {"short": [seeded_static(tokenizer, 1)], "long": [seeded_static(tokenizer, 2)]},
        default_route=None,
        allow_empty_key=False,
        route_mappings={("query", None): "short", ("document", "text"): "long"},
    )
    return SentenceTransformer(modules=[router, Normalize()], device="cpu")


def test_named_routes_round_trip_with_the_reference(tokenizer, texts, tmp_path):
    from sentence_transformers import SentenceTransformer as Reference

    ours = named_routes_model(tokenizer)
    ours.save(str(tmp_path / "ours"))
    reference = Reference(str(tmp_path / "ours"), device="cpu")
    for task in ("short", "long", "query", "document"):
        np.testing.assert_allclose(
            reference.encode(texts, task=task), ours.encode(texts, task=task), atol=1e-5, err_msg=task
        )
    np.testing.assert_allclose(ours.encode_query(texts), ours.encode(texts, task="short"), atol=1e-6)
    np.testing.assert_allclose(ours.encode_document(texts), ours.encode(texts, task="long"), atol=1e-6)

    reference.save(str(tmp_path / "reference"))
    back = SentenceTransformer(str(tmp_path / "reference"), device="cpu")
    assert back[0].route_mappings == ours[0].route_mappings
    np.testing.assert_allclose(back.encode(texts, task="long"), reference.encode(texts, task="long"), atol=1e-5)


def test_a_router_after_a_shared_transformer_round_trips(texts, tmp_path):
    from sentence_transformers import SentenceTransformer as Reference

    torch.manual_seed(3)
    base = SentenceTransformer(str(MINILM_L3), device="cpu")
    router = Router.for_query_document([Dense(384, 8)], [Dense(384, 8), Normalize()])
    ours = SentenceTransformer(modules=[base[0], base[1], router], device="cpu")
    ours.save(str(tmp_path / "ours"))
    assert (tmp_path / "ours" / "2_Router" / "router_config.json").is_file()
    reference = Reference(str(tmp_path / "ours"), device="cpu")
    assert_outputs_close(router_outputs(reference, texts), router_outputs(ours, texts))


class Scale(torch.nn.Module):
    """A route module reading an `encode` keyword argument: it scales the sentence embedding."""

    forward_kwargs = ("scale",)

    def forward(self, features, scale: float = 1.0):
        return {**features, "sentence_embedding": features["sentence_embedding"] * scale}


def test_a_router_passes_encode_keywords_to_its_routes_modules(texts):
    base = SentenceTransformer(str(MINILM_L3), device="cpu")
    router = Router.for_query_document([Scale()], [Normalize()])
    model = SentenceTransformer(modules=[base[0], base[1], router], device="cpu")
    assert model.get_model_kwargs() == ["modality", "scale", "task"]
    plain = base.encode(texts[:3])
    np.testing.assert_allclose(model.encode_query(texts[:3], scale=3.0), 3 * plain, rtol=1e-5)
    np.testing.assert_allclose(model.encode_query(texts[:3]), plain, rtol=1e-5)
    np.testing.assert_allclose(
        model.encode_document(texts[:3], scale=3.0), plain / np.linalg.norm(plain, axis=1, keepdims=True), rtol=1e-5
    )


def test_unknown_tasks_and_untokenizable_routes_are_named(tokenizer):
    model = named_routes_model(tokenizer)
    with pytest.raises(ValueError, match="no route for task 'summary'.*'short', 'long'"):
        model.encode("a text", task="summary")
    with pytest.raises(ValueError, match="no task given.*no default_route"):
        model.encode("a text")
    with pytest.raises(TypeError, match="task must be a string"):
        model.encode("a text", task=3)
    dense_first = Router({"query": [Dense(384, 8)], "document": [seeded_static(tokenizer, 4)]})
    with pytest.raises(TypeError, match="route 'query' starts with Dense, which cannot take text"):
        SentenceTransformer(modules=[dense_first], device="cpu").encode("a text", task="query")
    with pytest.raises(ValueError, match="route 'missing' is not among the routes"):
        Router({"query": [Dense(4, 2)]}, default_route="missing")


def test_models_without_a_router_ignore_task(minilm_l3, reference_minilm_l3, texts):
    plain = minilm_l3.encode(texts)
    for task in ("query", "summary", None):
        np.testing.assert_allclose(minilm_l3.encode(texts, task=task), plain, atol=1e-6)
        np.testing.assert_allclose(reference_minilm_l3.encode(texts, task=task), plain, atol=1e-5)
    assert minilm_l3.get_model_kwargs() == []


def test_asym_is_the_old_name_of_router(reference_router_folder, texts, tmp_path):
    assert Asym is Router
    folder = tmp_path / "asym"
    SentenceTransformer(str(reference_router_folder), device="cpu").save(str(folder))
    entries = json.loads((folder / "modules.json").read_text())
    entries[0]["type"] = "sentence_transformers.models.Asym"
    (folder / "modules.json").write_text(json.dumps(entries))
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.get_model_kwargs() == ["modality", "task"]  # as the reference lists them
    np.testing.assert_allclose(
        model.encode_query(texts), SentenceTransformer(str(reference_router_folder)).encode_query(texts), atol=1e-6
    )


def test_an_old_asym_folder_loads_as_in_the_reference(minilm_l3, texts, tmp_path):
    """An Asym module folder: `config.json` (not router_config.json) with no default route or mappings."""
    from sentence_transformers import SentenceTransformer as Reference

    torch.manual_seed(4)
    router = Router.for_query_document([Dense(384, 8)], [Dense(384, 8)])
    SentenceTransformer(modules=[minilm_l3[0], minilm_l3[1], router], device="cpu").save(str(tmp_path / "asym"))
    folder = tmp_path / "asym" / "2_Router"
    config = json.loads((folder / "router_config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "parameters": {"allow_empty_key": True}}))
    (folder / "router_config.json").unlink()
    folder.rename(tmp_path / "asym" / "2_Asym")
    entries = json.loads((tmp_path / "asym" / "modules.json").read_text())
    entries[2].update(path="2_Asym", type="sentence_transformers.models.Asym")
    (tmp_path / "asym" / "modules.json").write_text(json.dumps(entries))

    ours = SentenceTransformer(str(tmp_path / "asym"), device="cpu")
    assert ours[2].default_route == "query"  # the first route, as allow_empty_key makes it
    reference = Reference(str(tmp_path / "asym"), device="cpu")
    assert_outputs_close(router_outputs(ours, texts), router_outputs(reference, texts))


def test_the_cache_keeps_routes_apart(tokenizer, texts, tmp_path):
    model = named_routes_model(tokenizer)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        short = model.encode(texts, task="short", cache=cache)
        long = model.encode(texts, task="long", cache=cache)
    np.testing.assert_allclose(long, model.encode(texts, task="long"), atol=1e-6)
    assert np.abs(short - long).max() > 0.1


# ----- training -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def question_answers() -> dict[str, list[str]]:
    rows = [(question, answer) for question, answer, label in read_wikiqa("train") if label == 1][:32]
    return {"question": [question for question, _ in rows], "answer": [answer for _, answer in rows]}


def static_router(tokenizer: Tokenizer) -> SentenceTransformer:
    router = Router.for_query_document([seeded_static(tokenizer, 5)], [seeded_static(tokenizer, 6)])
    return SentenceTransformer(modules=[router], device="cpu")


def word_router(data: dict[str, list[str]]) -> SentenceTransformer:
    """Trainable seeded word vectors per route, mean-pooled: a Router that trains in seconds."""
    vocabulary = [
        "PADDING_TOKEN",
        *dict.fromkeys(word for text in data["question"] + data["answer"] for word in text.split()),
    ]
    generator = torch.Generator().manual_seed(7)

    def route() -> list:
        table = torch.randn(len(vocabulary), 16, generator=generator)
        return [WordEmbeddings(WhitespaceTokenizer(vocabulary), table, update_embeddings=True), Pooling(16)]

    return SentenceTransformer(modules=[Router.for_query_document(route(), route())], device="cpu")


def train(model: SentenceTransformer, data: dict[str, list[str]], output_dir: Path, **arguments) -> None:
    from datasets import Dataset

    from sentembed.losses import MultipleNegativesRankingLoss
    from sentembed.training.arguments import SentenceTransformerTrainingArguments
    from sentembed.training.trainer import SentenceTransformerTrainer

    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        max_steps=4,
        per_device_train_batch_size=8,
        learning_rate=0.05,
        report_to=[],
        save_strategy="no",
        seed=0,
        **arguments,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=Dataset.from_dict(data), loss=MultipleNegativesRankingLoss(model)
    )
    trainer.train()


def route_tables(model: SentenceTransformer) -> dict[str, torch.Tensor]:
    return {route: modules[0].emb_layer.weight.detach().clone() for route, modules in model[0].sub_modules.items()}


@pytest.mark.parametrize("route", ["query", "document"])
def test_router_mapping_trains_only_the_mapped_route(route, question_answers, tmp_path):
    model = word_router(question_answers)
    before = route_tables(model)
    train(model, question_answers, tmp_path, router_mapping={"question": route, "answer": route})
    after = route_tables(model)
    other = "document" if route == "query" else "query"
    assert not torch.equal(before[route], after[route])
    assert torch.equal(before[other], after[other])


def test_router_mapping_sends_each_column_to_its_route(question_answers, tmp_path):
    model = word_router(question_answers)
    before = route_tables(model)
    train(
        model,
        question_answers,
        tmp_path,
        router_mapping=json.dumps({"question": "query", "answer": "document"}),
        learning_rate_mapping={r"sub_modules\.document\.": 0.0},
    )
    after = route_tables(model)
    assert not torch.equal(before["query"], after["query"])
    assert torch.equal(before["document"], after["document"])  # its learning rate is 0


def test_learning_rate_groups_match_the_reference(tokenizer, question_answers, tmp_path):
    import sentence_transformers.models as ref
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer as Reference
    from sentence_transformers import SentenceTransformerTrainer as ReferenceTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as ReferenceArguments
    from sentence_transformers import losses as reference_losses

    from sentembed.losses import MultipleNegativesRankingLoss
    from sentembed.training.arguments import SentenceTransformerTrainingArguments
    from sentembed.training.trainer import SentenceTransformerTrainer

    mapping = {r"sub_modules\.query": 0.5, r"embedding": 0.25, r"sub_modules\.document\.": 0.125}
    options = dict(
        output_dir=str(tmp_path),
        learning_rate=1e-3,
        report_to=[],
        learning_rate_mapping=mapping,
        router_mapping={"question": "query", "answer": "document"},
    )
    dataset = Dataset.from_dict(question_answers)

    def rates(trainer) -> dict[int, float]:
        """Each parameter's learning rate, by the parameter's storage."""
        return {
            parameter.data_ptr(): group["lr"]
            for group in trainer.create_optimizer().param_groups
            for parameter in group["params"]
        }

    ours = static_router(tokenizer)
    reference = Reference(
        modules=[
            ref.Router.for_query_document(
                [ref.StaticEmbedding(tokenizer, embedding_dim=16)], [ref.StaticEmbedding(tokenizer, embedding_dim=16)]
            )
        ],
        device="cpu",
    )
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in reference.named_parameters()]
    our_trainer = SentenceTransformerTrainer(
        model=ours,
        args=SentenceTransformerTrainingArguments(**options),
        train_dataset=dataset,
        loss=MultipleNegativesRankingLoss(ours),
    )
    reference_trainer = ReferenceTrainer(
        model=reference,
        args=ReferenceArguments(**options),
        train_dataset=dataset,
        loss=reference_losses.MultipleNegativesRankingLoss(reference),
    )
    our_rates = [rates(our_trainer)[parameter.data_ptr()] for parameter in ours.parameters()]
    reference_rates = [rates(reference_trainer)[parameter.data_ptr()] for parameter in reference.parameters()]
    assert our_rates == reference_rates == [0.25, 0.125]


def test_learning_rate_mapping_is_checked(tokenizer, question_answers, tmp_path):
    from sentembed.training.arguments import SentenceTransformerTrainingArguments

    with pytest.raises(TypeError, match=r"learning_rate_mapping\['x'\] must map a string to a int or float"):
        SentenceTransformerTrainingArguments(output_dir=str(tmp_path), learning_rate_mapping={"x": "fast"})
    with pytest.raises(ValueError, match="JSON object"):
        SentenceTransformerTrainingArguments(output_dir=str(tmp_path), router_mapping="{not json")
    with pytest.raises(ValueError, match="pattern 'decoder' matches no trainable parameter"):
        train(
            static_router(tokenizer),
            question_answers,
            tmp_path,
            router_mapping={"question": "query"},
            learning_rate_mapping={"decoder": 0.1},
        )
    with pytest.raises(ValueError, match="has a Router but the training arguments have no router_mapping"):
        train(static_router(tokenizer), question_answers, tmp_path)


@pytest.mark.parametrize("method", ["__init__", "for_query_document"])
def test_router_takes_the_reference_arguments(method):
    import inspect

    import sentence_transformers.models as ref

    theirs = inspect.signature(getattr(ref.Router, method)).parameters
    mine = inspect.signature(getattr(Router, method)).parameters
    assert [(name, parameter.default) for name, parameter in mine.items()] == [
        (name, parameter.default) for name, parameter in theirs.items()
    ]
