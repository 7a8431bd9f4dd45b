"""`OnnxSequenceClassifier`: the cross-encoder's classifier with its forward pass run by onnxruntime."""

from __future__ import annotations

import os

import torch

from sentembed.backend._onnx_transformer import OnnxGraph
from sentembed.models.classifier import SequenceClassifier


class OnnxSequenceClassifier(OnnxGraph, SequenceClassifier):
    """A SequenceClassifier whose logits come from an ONNX export; tokenization and saving stay the same."""

    def logits(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.run_graph(features)

    def save_checkpoint(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        """Write the transformers checkpoint as usual, plus the ONNX file being run.

        Args:
            output_path: The folder.
            safe_serialization: Write the torch weights as safetensors. Default True.
        """
        super().save_checkpoint(output_path, safe_serialization=safe_serialization)
        self.copy_onnx_file(output_path)
