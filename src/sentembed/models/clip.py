"""CLIPModel: a CLIP text tower and image tower that embed texts and images into one space."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoProcessor

from sentembed.common.files import write_json
from sentembed.common.types import Features, Row
from sentembed.models.input_module import InputModule

IMAGE_EXTRA_HINT = "encoding images needs Pillow: pip install 'sentembed[image]'"
# What the reference writes beside a CLIP checkpoint: which transformers method embeds each modality.
MODALITY_CONFIG = {
    "text": {"method": "get_text_features", "method_output_name": "pooler_output"},
    "image": {"method": "get_image_features", "method_output_name": "pooler_output"},
}


def pil_image_class() -> type:
    """`PIL.Image.Image`, or an ImportError naming the `image` extra when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(IMAGE_EXTRA_HINT) from error
    return Image.Image


def check_text_or_image(item: Any, name: str) -> Any:
    """Refuse an input that is neither a str nor a PIL image, naming it and what was expected."""
    if isinstance(item, str):
        return item
    try:
        image_class = pil_image_class()
    except ImportError as error:
        raise ImportError(f"{name} is a {type(item).__name__}, not a str; {IMAGE_EXTRA_HINT}") from error
    if not isinstance(item, image_class):
        raise TypeError(f"{name} must be a str or a PIL image, got {type(item).__name__}")
    if item.width == 0 or item.height == 0:
        raise ValueError(f"{name} is an empty image ({item.width}x{item.height} pixels); an image needs pixels")
    return item


def _features(output: Any) -> torch.Tensor:
    """The projected features from `get_text_features` / `get_image_features` (a tensor, or an output object
    whose `pooler_output` holds them, depending on the transformers version)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class CLIPModel(InputModule):
    """A transformers `CLIPModel` and its `CLIPProcessor`: `encode` takes texts, PIL images or lists mixing both,
    and gives each the projected CLIP embedding (not normalised), so texts and images compare by cosine.

    Saved at the model folder's root with the reference's `sentence_bert_config.json`; loads the reference's
    `0_CLIPModel` folders too.

    Args:
        model_name: The CLIP checkpoint (hub id or folder). Default "openai/clip-vit-base-patch32".
        processor_name: The processor's checkpoint. Default None: `model_name`.
        max_seq_length: The most tokens a text keeps. Default None: the text tower's limit.
        model_args: Options for the model's `from_pretrained`. Default None.
        processor_args: Options for the processor's `from_pretrained`. Default None.
        cache_dir: Where hub downloads go. Default None.
    """

    save_in_root = True
    config_file_name = "sentence_bert_config.json"
    modalities = ("text", "image")

    def __init__(
        self,
        model_name: str = "openai/clip-vit-base-patch32",
        processor_name: str | None = None,
        max_seq_length: int | None = None,
        model_args: dict[str, Any] | None = None,
        processor_args: dict[str, Any] | None = None,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.model = transformers.CLIPModel.from_pretrained(model_name, cache_dir=cache_dir, **(model_args or {}))
        self.processor = AutoProcessor.from_pretrained(
            processor_name or model_name, cache_dir=cache_dir, **(processor_args or {})
        )
        self.model_limit = self._text_length_limit()
        self._max_seq_length = min(max_seq_length or self.model_limit, self.model_limit)

    def _text_length_limit(self) -> int:
        """The text tower's position table, capped by the tokenizer's own limit."""
        positions = self.model.config.text_config.max_position_embeddings
        tokenizer_limit = self.processor.tokenizer.model_max_length
        return min(positions, tokenizer_limit) if tokenizer_limit else positions

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self._max_seq_length = min(int(value), self.model_limit)

    @property
    def vision_tokens(self) -> int:
        """How many positions the image tower runs over per image (patches and the class token)."""
        vision = self.model.config.vision_config
        return (vision.image_size // vision.patch_size) ** 2 + 1

    def get_sentence_embedding_dimension(self) -> int:
        """The projected embeddings' size.

        Returns:
            The model's projection_dim.
        """
        return self.model.config.projection_dim

    get_embedding_dimension = get_sentence_embedding_dimension

    def tokenize_unpadded(self, inputs: list[Any]) -> tuple[list[Row], int]:
        """A token row per text and an image row per image, in input order; and how many texts were cut.

        An image row keeps the image (it is resized and normalised in `pad`, one batch at a time) and, as
        `input_ids`, the image tower's position ids: their count is what the batch planner weighs, as it weighs a
        text's token count.

        Args:
            inputs: Texts and PIL images, in any mix.

        Returns:
            (one row per input, how many texts were cut at `max_seq_length`).
        """
        texts = [(index, item) for index, item in enumerate(inputs) if isinstance(item, str)]
        rows: list[Row] = [{}] * len(inputs)
        for index, item in enumerate(inputs):
            if not isinstance(item, str):
                rows[index] = {"image": check_text_or_image(item, f"inputs[{index}]"), "input_ids": self._positions()}
        cut = 0
        if texts:
            encoded = self.tokenizer(
                [text for _, text in texts], padding=False, truncation=True, max_length=self.max_seq_length
            )
            encodings = getattr(encoded, "encodings", None) or []
            cut = sum(bool(encoding.overflowing) for encoding in encodings)
            for position, (index, _) in enumerate(texts):
                rows[index] = {"input_ids": encoded["input_ids"][position]}
        return rows, cut

    def _positions(self) -> list[int]:
        return list(range(self.vision_tokens))

    def pad(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        """Texts padded to their longest (with an attention mask), images as `pixel_values`, and `image_rows`
        saying which rows of the batch are images.

        Args:
            rows: Rows from `tokenize_unpadded`.

        Returns:
            "image_rows", and "input_ids"/"attention_mask" and "pixel_values" as the batch holds texts and images.
        """
        is_image = [("image" in row) for row in rows]
        batch: dict[str, torch.Tensor] = {"image_rows": torch.tensor(is_image, dtype=torch.bool)}
        text_rows = [row["input_ids"] for row, image in zip(rows, is_image, strict=True) if not image]
        if text_rows:
            width = max(len(ids) for ids in text_rows)
            pad_id = self.tokenizer.pad_token_id or 0
            batch["input_ids"] = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids in text_rows])
            batch["attention_mask"] = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in text_rows])
        images = [row["image"] for row, image in zip(rows, is_image, strict=True) if image]
        if images:
            processed = self.processor.image_processor(images=images, return_tensors="pt")
            batch["pixel_values"] = processed["pixel_values"]
        return batch

    def forward(self, features: Features) -> Features:
        """`sentence_embedding`: the text tower's projection for text rows, the image tower's for image rows.

        Args:
            features: The batch from `pad`.

        Returns:
            The features, with "sentence_embedding" set.
        """
        is_image = features.get("image_rows")
        if is_image is None:  # a batch from `tokenize` outside encode: texts only
            is_image = torch.zeros(len(features["input_ids"]), dtype=torch.bool, device=features["input_ids"].device)
        parts: list[tuple[torch.Tensor, torch.Tensor]] = []
        if "input_ids" in features:
            text = self.model.get_text_features(
                input_ids=features["input_ids"], attention_mask=features.get("attention_mask")
            )
            parts.append((~is_image, _features(text)))
        if "pixel_values" in features:
            image = self.model.get_image_features(pixel_values=features["pixel_values"].to(self.model.dtype))
            parts.append((is_image, _features(image)))
        reference = parts[0][1]
        embeddings = reference.new_empty((len(is_image), reference.shape[-1]))
        for rows, values in parts:
            embeddings[rows] = values
        features["sentence_embedding"] = embeddings
        return features

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "transformer_task": "feature-extraction",
            "modality_config": MODALITY_CONFIG,
            "module_output_name": "sentence_embedding",
        }

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        """The CLIP checkpoint, its processor files and `sentence_bert_config.json`, as the reference writes them.

        Args:
            output_path: The folder (created when missing).
            safe_serialization: Write weights as safetensors. Default True.
        """
        os.makedirs(output_path, exist_ok=True)
        self.model.save_pretrained(output_path, safe_serialization=safe_serialization)
        self.processor.save_pretrained(output_path)
        write_json(Path(output_path) / self.config_file_name, self.get_config_dict())

    @classmethod
    def load(
        cls,
        input_path: str,
        cache_folder: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> CLIPModel:
        """Load from a CLIP checkpoint folder with its processor files.

        Args:
            input_path: The folder.
            cache_folder: Where hub downloads go. Default None.
            local_files_only: Never download. Default False.
            token: A hub token. Default None.
            model_kwargs: Options for the model's `from_pretrained`. Default None.
            tokenizer_kwargs: Options for the processor's `from_pretrained`. Default None.
            **kwargs: Other loading options, ignored.

        Returns:
            The module.
        """
        hub: dict[str, Any] = {"local_files_only": local_files_only}
        if token is not None:
            hub["token"] = token
        return cls(
            input_path,
            model_args={**hub, **(model_kwargs or {})},
            processor_args={**hub, **(tokenizer_kwargs or {})},
            cache_dir=cache_folder,
        )
