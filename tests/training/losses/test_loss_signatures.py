"""Every loss the reference exports exists in sentembed.losses with the same constructor: the same parameters
in the same order, of the same kind, with equal defaults. Type annotations are not compared."""

from __future__ import annotations

import enum
import inspect
import warnings

import pytest
import torch


def reference_module():
    from sentence_transformers.sentence_transformer import losses

    return losses


def reference_names() -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sorted(reference_module().__all__)


# Documented exceptions: the reference's deprecated aliases take (*args, **kwargs) and forward them to the merged
# class; ours spell out the arguments the reference documents for them.
SPELLED_OUT = {
    "MultipleNegativesSymmetricRankingLoss": ["model", "scale", "similarity_fct", "gather_across_devices"],
    "CachedMultipleNegativesSymmetricRankingLoss": [
        "model", "scale", "similarity_fct", "mini_batch_size", "mini_batch_num_tokens", "gather_across_devices",
        "show_progress_bar",
    ],
}  # fmt: skip

PROBE = torch.tensor([[1.0, 2.0, -0.5], [0.3, -1.0, 2.0], [0.0, 1.0, 1.0]])


def same_default(ours, theirs) -> bool:
    """Equal values; modules of the same class; functions that give the same result on a fixed input."""
    if isinstance(theirs, torch.nn.Module):
        return type(ours) is type(theirs)
    if callable(theirs) and not isinstance(theirs, type):
        required = [p for p in inspect.signature(theirs).parameters.values() if p.default is inspect.Parameter.empty]
        arguments = (PROBE, PROBE.flip(0))[: len(required)]
        return torch.allclose(ours(*arguments), theirs(*arguments))
    return ours == theirs


def test_we_export_every_loss_the_reference_exports():
    import sentembed.losses as ours

    missing = [name for name in reference_names() if name not in ours.__all__]
    assert not missing, f"sentembed.losses lacks {missing}"


@pytest.mark.parametrize("name", reference_names())
def test_constructor_matches_reference(name):
    import sentembed.losses as ours

    theirs, mine = getattr(reference_module(), name), getattr(ours, name)
    if isinstance(theirs, type) and issubclass(theirs, enum.Enum):
        assert [member.name for member in mine] == [member.name for member in theirs]
        return
    if theirs.__init__ is object.__init__:
        public = sorted(attribute for attribute in vars(theirs) if not attribute.startswith("_"))
        assert sorted(attribute for attribute in vars(mine) if not attribute.startswith("_")) == public
        return
    expected = inspect.signature(theirs).parameters
    actual = inspect.signature(mine).parameters
    if name in SPELLED_OUT:
        assert [kind.kind for kind in expected.values()] == [
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ]
        assert list(actual) == SPELLED_OUT[name]
        return
    assert list(actual) == list(expected), f"{name}: parameters {list(actual)}, the reference has {list(expected)}"
    for parameter_name, parameter in expected.items():
        ours_parameter = actual[parameter_name]
        assert ours_parameter.kind == parameter.kind, f"{name}({parameter_name}): kind differs"
        if parameter.default is inspect.Parameter.empty:
            assert ours_parameter.default is inspect.Parameter.empty, f"{name}({parameter_name}) must be required"
        else:
            assert same_default(ours_parameter.default, parameter.default), (
                f"{name}({parameter_name}): default {ours_parameter.default!r}, the reference's {parameter.default!r}"
            )
