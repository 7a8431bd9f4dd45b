"""Dense: a linear layer with an activation, applied to the sentence embedding."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from sentembed.common.types import Features, fullname
from sentembed.models.base import WeightedModule, load_state_dict

logger = logging.getLogger(__name__)

# Every key a Dense config may hold (older versions write the first four only).
DENSE_CONFIG_KEYS = (
    "in_features",
    "out_features",
    "bias",
    "activation_function",
    "module_input_name",
    "module_output_name",
    "use_residual",
)

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "torch.nn.modules.activation.Tanh": nn.Tanh,
    "torch.nn.modules.linear.Identity": nn.Identity,
    "torch.nn.modules.activation.ReLU": nn.ReLU,
    "torch.nn.modules.activation.Sigmoid": nn.Sigmoid,
    "torch.nn.modules.activation.GELU": nn.GELU,
    "torch.nn.modules.activation.SiLU": nn.SiLU,
    "torch.nn.modules.activation.LeakyReLU": nn.LeakyReLU,
    "torch.nn.modules.activation.ELU": nn.ELU,
    "torch.nn.modules.activation.Softplus": nn.Softplus,
    "torch.nn.modules.activation.Softmax": nn.Softmax,
}


def activation_from_name(name: str | None) -> nn.Module:
    """Build an activation from its saved class path, through a fixed allowlist (never an import)."""
    if name is None:
        return nn.Identity()
    for full_name, activation in ACTIVATIONS.items():
        if name in (full_name, full_name.rsplit(".", 1)[1], f"torch.nn.{full_name.rsplit('.', 1)[1]}"):
            return activation()
    raise ValueError(f"unknown activation function {name!r}; allowed: {sorted(ACTIVATIONS)}")


def activation_name(activation: nn.Module) -> str:
    """The class path under which the reference saves `activation`."""
    return fullname(activation)


class Dense(WeightedModule):
    """`activation(linear(x))` on one feature (the sentence embedding by default), to change its size or add a head.

    With `use_residual`, the input is added back, through a bias-free projection when the sizes differ.

    Args:
        in_features: The input's size.
        out_features: The output's size.
        bias: Give the linear layer a bias. Default True.
        activation_function: A module, or the dotted name of a torch activation. Default None: Tanh.
        init_weight: The linear layer's starting weight, (out_features, in_features). Default None: random.
        init_bias: Its starting bias, (out_features,). Default None: random.
        module_input_name: The feature to read. Default "sentence_embedding".
        module_output_name: The feature to write. Default None: the one read.
        use_residual: Add the input back to the output. Default False.
    """

    config_keys = ("in_features", "out_features", "bias")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation_function: nn.Module | str | None = None,
        init_weight: torch.Tensor | None = None,
        init_bias: torch.Tensor | None = None,
        module_input_name: str = "sentence_embedding",
        module_output_name: str | None = None,
        use_residual: bool = False,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.bias = bias
        self.module_input_name = module_input_name
        self.module_output_name = module_output_name or module_input_name
        self.use_residual = use_residual
        if activation_function is None:
            activation_function = nn.Tanh()
        elif isinstance(activation_function, str):
            activation_function = activation_from_name(activation_function)
        self.activation_function = activation_function
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        if init_weight is not None:
            self.linear.weight = nn.Parameter(init_weight)
        if init_bias is not None:
            self.linear.bias = nn.Parameter(init_bias)
        if use_residual and in_features != out_features:
            self.residual = nn.Linear(in_features, out_features, bias=False)

    def forward(self, features: Features) -> Features:
        """Apply the layer to `module_input_name`.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, with `module_output_name` set.

        Raises:
            ValueError: The input feature is missing.
        """
        if self.module_input_name not in features:
            raise ValueError(f"Dense reads {self.module_input_name!r}, which the modules before it did not produce")
        inputs = features[self.module_input_name]
        if inputs.dtype != self.linear.weight.dtype:  # e.g. a float64 or float16 Dense after float32 modules
            inputs = inputs.to(self.linear.weight.dtype)
        outputs = self.activation_function(self.linear(inputs))
        if self.use_residual:
            outputs = outputs + (self.residual(inputs) if hasattr(self, "residual") else inputs)
        features[self.module_output_name] = outputs
        return features

    def get_sentence_embedding_dimension(self) -> int:
        """The size of what the module writes (out_features).

        Returns:
            The dimension.
        """
        return self.out_features

    def get_config_dict(self) -> dict[str, Any]:
        """The v5 keys, plus the v6 ones only when set: sentence-transformers before v6 refuses unknown keys.

        Returns:
            Setting name -> value.
        """
        config = {**super().get_config_dict(), "activation_function": activation_name(self.activation_function)}
        v6_options = {
            "module_input_name": (self.module_input_name, "sentence_embedding"),
            "module_output_name": (self.module_output_name, self.module_input_name),
            "use_residual": (self.use_residual, False),
        }
        if any(value != default for value, default in v6_options.values()):
            config.update({key: value for key, (value, _) in v6_options.items()})
        return config

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> Dense:
        """Read the config (keys this class does not know are dropped with a warning) and the weights, keeping
        the precision they were saved in (float16, float64, ...).

        Args:
            input_path: The module's folder.
            **kwargs: Ignored (loading options other modules take).

        Returns:
            The module.

        Raises:
            OSError: A missing or damaged config or weights file.
        """
        config = cls.read_config(input_path)
        unknown = sorted(set(config) - set(DENSE_CONFIG_KEYS))
        if unknown:
            logger.warning("Dense config in %s has keys this version does not know, ignored: %s", input_path, unknown)
        dense = cls(
            in_features=config["in_features"],
            out_features=config["out_features"],
            bias=config.get("bias", True),
            activation_function=config.get("activation_function"),
            module_input_name=config.get("module_input_name", "sentence_embedding"),
            module_output_name=config.get("module_output_name"),
            use_residual=config.get("use_residual", False),
        )
        state = load_state_dict(input_path)
        saved_dtype = state["linear.weight"].dtype if "linear.weight" in state else None
        if saved_dtype is not None and saved_dtype.is_floating_point:
            dense.to(saved_dtype)
        dense.load_state_dict(state)
        return dense
