"""The model Protocols of sentembed.common.protocols describe our real model classes: every member a Protocol
names is there, with the kind it declares (method or value), on a loaded SentenceTransformer and CrossEncoder."""

from __future__ import annotations

import inspect

import pytest

from sentembed.common import protocols

IGNORED = {"__init__", "__slots__", "__doc__", "__module__", "__dict__", "__weakref__", "__annotations__"}


def protocol_members(protocol: type) -> dict[str, bool]:
    """Each member the Protocol (and the Protocols it extends) names -> whether it is a method."""
    members: dict[str, bool] = {}
    for klass in reversed(protocol.__mro__):
        if not getattr(klass, "_is_protocol", False) or klass.__module__ != protocols.__name__:
            continue
        for name in getattr(klass, "__annotations__", {}):
            members[name] = False
        for name, value in vars(klass).items():
            if name in IGNORED or (name.startswith("_") and name != "__call__"):
                continue
            members[name] = inspect.isfunction(value)
    return members


def missing_members(model: object, protocol: type) -> list[str]:
    problems = []
    for name, is_method in protocol_members(protocol).items():
        if not hasattr(model, name):
            problems.append(f"{name}: missing")
        elif is_method and not callable(getattr(model, name)):
            problems.append(f"{name}: not callable")
    return problems


def test_protocol_members_are_found():
    members = protocol_members(protocols.TrainableEncoderModel)
    assert members["encode"] is True and members["similarity_fn_name"] is False
    assert members["model_card_data"] is False and members["__call__"] is True
    assert "num_labels" not in members


@pytest.mark.parametrize("protocol", [protocols.EncoderModel, protocols.TrainableEncoderModel])
def test_sentence_transformer_is_an_encoder_model(minilm_l6, protocol):
    assert missing_members(minilm_l6, protocol) == []


@pytest.mark.parametrize("protocol", [protocols.PairModel, protocols.TrainablePairModel])
def test_cross_encoder_is_a_pair_model(cross_encoder, protocol):
    assert missing_members(cross_encoder, protocol) == []


def test_a_model_of_the_other_kind_does_not_fit(minilm_l6, cross_encoder):
    assert "predict: missing" in missing_members(minilm_l6, protocols.PairModel)
    assert "encode: missing" in missing_members(cross_encoder, protocols.EncoderModel)
