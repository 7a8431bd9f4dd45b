"""A tiny seeded RANDOM CLIP in the reference's folder layout, and seeded noise images: for the mechanics and the
folder format of image models (no pretrained CLIP can be downloaded here), not for embedding quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tokenizers.pre_tokenizers import ByteLevel
from transformers import CLIPConfig, CLIPImageProcessor, CLIPProcessor, CLIPTokenizer
from transformers import CLIPModel as HFCLIPModel


def character_clip_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is the 256 byte-level characters (alone and word-final), two merges and
    the two special tokens: small, and tokenizes any text."""
    alphabet = ByteLevel.alphabet()
    vocab = {char: index for index, char in enumerate(alphabet)}
    vocab.update({char + "</w>": len(alphabet) + index for index, char in enumerate(alphabet)})
    for token in ("<|startoftext|>", "<|endoftext|>", "th", "the</w>"):
        vocab[token] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[("t", "h"), ("th", "e</w>")], model_max_length=77)


def build_random_clip(folder: Path) -> None:
    """A seeded random CLIP (2 layers per tower, 32 wide, 16-d projection, 32x32 images) in the hub's
    `0_CLIPModel` layout of clip-ViT-B-32."""
    tokenizer = character_clip_tokenizer()
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    tower = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**tower, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    HFCLIPModel(config).save_pretrained(folder / "0_CLIPModel")
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder / "0_CLIPModel")
    modules = [{"idx": 0, "name": "0", "path": "0_CLIPModel", "type": "sentence_transformers.models.CLIPModel"}]
    (folder / "modules.json").write_text(json.dumps(modules))


def random_images(count: int) -> list[Image.Image]:
    """Seeded noise images of different sizes around a different dominant colour each."""
    generator = np.random.default_rng(0)
    images = []
    for index in range(count):
        height, width = 32 + 7 * index, 48 - 3 * index
        pixels = generator.integers(0, 256, size=(height, width, 3))
        pixels[..., index % 3] = 255
        images.append(Image.fromarray(pixels.astype(np.uint8)))
    return images
