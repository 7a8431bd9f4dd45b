"""Rerankers whose tokenizer has a chat template: pairs rendered as "query" and "document" messages, templates
that drop those roles refused, conversations rendered as given, and per-call processing options.

The templates are set on the WikiQA cross-encoder through `processor_kwargs`; the rendered text is what is
checked (the model was not trained on these templates, so its scores are only compared with themselves)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentembed import CrossEncoder
from tests.support.paths import CROSS_ENCODER

RERANK_TEMPLATE = (
    'Q: {{ messages | selectattr("role", "eq", "query") | map(attribute="content") | first }}\n'
    'D: {{ messages | selectattr("role", "eq", "document") | map(attribute="content") | first }}'
)
USER_ONLY_TEMPLATE = "{% for m in messages %}{% if m.role == 'user' %}<|user|> {{ m.content }}{% endif %}{% endfor %}"
ECHO_TEMPLATE = "{% for m in messages %}[{{ m.role }}] {{ m.content }} {% endfor %}"
TYPED_RERANK_TEMPLATE = (
    'Q: {{ (messages | selectattr("role", "eq", "query") | first).content[0].text }}\n'
    'D: {{ (messages | selectattr("role", "eq", "document") | first).content[0].text }}'
)
PAIR = ("Who wrote Faust?", "Goethe wrote Faust in two parts.")
ROLES_DROPPED = "cannot carry a 'query'/'document' pair"


def with_template(template) -> CrossEncoder:
    return CrossEncoder(str(CROSS_ENCODER), device="cpu", processor_kwargs={"chat_template": template})


def decoded(model: CrossEncoder, features: dict) -> str:
    return model.tokenizer.decode(features["input_ids"][0], skip_special_tokens=True)


def test_pairs_are_rendered_as_query_and_document_messages_and_scored_as_that_text():
    model = with_template(RERANK_TEMPLATE)
    assert model[0].input_formatter.pair_roles_failure() is None and "message" in model[0].modality_config
    assert decoded(model, model[0].preprocess([PAIR])) == "q : who wrote faust? d : goethe wrote faust in two parts."
    rendered = f"Q: {PAIR[0]}\nD: {PAIR[1]}"
    with torch.inference_mode():
        logit = model.model(**model.tokenizer(rendered, return_tensors="pt")).logits[0, 0]
    np.testing.assert_allclose(model.predict([PAIR]), torch.sigmoid(logit).numpy()[None], atol=1e-5, rtol=0)
    plain = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    assert "message" not in plain[0].modality_config
    assert not np.isclose(plain.predict([PAIR])[0], model.predict([PAIR])[0])


def test_a_template_that_drops_the_pair_roles_is_refused_until_it_is_replaced():
    model = with_template(USER_ONLY_TEMPLATE)
    failure = model[0].input_formatter.pair_roles_failure()
    assert ROLES_DROPPED in failure and "query and document" in failure
    with pytest.raises(ValueError, match=ROLES_DROPPED):
        model.predict([PAIR])
    with pytest.raises(ValueError, match=ROLES_DROPPED):
        model[0].preprocess(["a single text", PAIR])
    assert "a single text" in decoded(model, model[0].preprocess(["a single text"]))
    model.processor.chat_template = RERANK_TEMPLATE
    assert decoded(model, model[0].preprocess([PAIR])).startswith("q : who wrote faust?")


def test_a_template_that_echoes_unknown_roles_keeps_both_texts():
    model = with_template(ECHO_TEMPLATE)
    text = decoded(model, model[0].preprocess([PAIR]))
    assert text == "[ query ] who wrote faust? [ document ] goethe wrote faust in two parts."


def test_a_conversation_is_rendered_as_given_even_with_one_pair_role():
    query_only = "{% for m in messages %}{% if m.role == 'query' %}Search: {{ m.content }}{% endif %}{% endfor %}"
    model = with_template(query_only)
    assert decoded(model, model[0].preprocess([[{"role": "query", "content": "old maps"}]])) == "search : old maps"
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        CrossEncoder(str(CROSS_ENCODER), device="cpu")[0].preprocess([[{"role": "user", "content": "hi"}]])


def test_a_named_template_is_picked_by_the_modules_or_the_calls_processing_kwargs():
    model = with_template({"default": USER_ONLY_TEMPLATE, "reranker": TYPED_RERANK_TEMPLATE})
    with pytest.raises(ValueError, match=ROLES_DROPPED) as error:
        model[0].preprocess([PAIR])
    assert "content[0].text" in str(error.value)  # named templates read typed content
    per_call = model.predict([PAIR], processing_kwargs={"chat_template": {"chat_template": "reranker"}})
    model[0].processing_kwargs["chat_template"] = {"chat_template": "reranker"}
    assert decoded(model, model[0].preprocess([PAIR])).startswith("q : who wrote faust?")
    np.testing.assert_allclose(model.predict([PAIR]), per_call, atol=1e-6, rtol=0)


def test_a_pair_that_is_not_two_texts_is_a_type_error():
    model = with_template(RERANK_TEMPLATE)
    with pytest.raises(TypeError, match=r"pairs of two texts.*\(bytes, str\)"):
        model[0].preprocess([(b"raw", "text")])
