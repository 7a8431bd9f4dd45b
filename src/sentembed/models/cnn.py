"""CNN: 1-D convolutions over the token embeddings, one per kernel size, concatenated."""

from __future__ import annotations

import torch
from torch import nn

from sentembed.common.types import Features
from sentembed.models.base import WeightedModule


class CNN(WeightedModule):
    """Replace token embeddings by the concatenated outputs of `Conv1d`s (padded to keep the length for odd
    kernels), giving `out_channels * len(kernel_sizes)` dimensions per token.

    Args:
        in_embedding_dimension: The token embeddings' size.
        out_channels: Output channels per kernel size. Default 256.
        kernel_sizes: The convolutions' kernel sizes. Default (1, 3, 5).
        stride_sizes: One stride per kernel size. Default None: 1 each.
    """

    config_file_name = "cnn_config.json"
    config_keys = ("in_embedding_dimension", "out_channels", "kernel_sizes", "stride_sizes")

    def __init__(
        self,
        in_embedding_dimension: int,
        out_channels: int = 256,
        kernel_sizes: list[int] = (1, 3, 5),
        stride_sizes: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.in_embedding_dimension = in_embedding_dimension
        self.out_channels = out_channels
        self.kernel_sizes = list(kernel_sizes)
        self.stride_sizes = list(stride_sizes) if stride_sizes is not None else [1] * len(self.kernel_sizes)
        if len(self.stride_sizes) != len(self.kernel_sizes):
            raise ValueError(
                f"CNN needs one stride per kernel: {len(self.kernel_sizes)} kernels, {len(self.stride_sizes)} strides"
            )
        self.convs = nn.ModuleList(
            nn.Conv1d(in_embedding_dimension, out_channels, kernel, stride=stride, padding=(kernel - 1) // 2)
            for kernel, stride in zip(self.kernel_sizes, self.stride_sizes, strict=True)
        )
        self.embeddings_dimension = out_channels * len(self.kernel_sizes)

    def get_word_embedding_dimension(self) -> int:
        """The output token embeddings' size.

        Returns:
            The dimension.
        """
        return self.embeddings_dimension

    get_embedding_dimension = get_word_embedding_dimension

    def forward(self, features: Features) -> Features:
        """Run the convolutions over the token embeddings.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, "token_embeddings" replaced.
        """
        channels_first = features["token_embeddings"].transpose(1, -1)
        outputs = torch.cat([conv(channels_first) for conv in self.convs], dim=1)
        features["token_embeddings"] = outputs.transpose(1, -1)
        return features
