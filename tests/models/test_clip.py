"""CLIPModel: texts and images in one space, in the reference's folder layout, equal to the reference's CLIPModel.

No pretrained CLIP can be downloaded here, so the model is a tiny RANDOMLY initialised CLIP (seeded) with a
character-level CLIP tokenizer: it tests the mechanics and the folder format, not embedding quality.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sentembed import SentenceTransformer, util
from sentembed.models import CLIPModel
from tests.support.clip import build_random_clip, random_images

TEXTS = ["a red square", "a green square", "the blue sky at noon", "a photo of a cat", "two dogs"]


@pytest.fixture(scope="module")
def random_clip_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("random-clip")
    build_random_clip(folder)
    return folder


@pytest.fixture(scope="module")
def ours(random_clip_folder) -> SentenceTransformer:
    return SentenceTransformer(str(random_clip_folder), device="cpu")


@pytest.fixture(scope="module")
def reference(random_clip_folder):
    from sentence_transformers import SentenceTransformer as Reference

    return Reference(str(random_clip_folder), device="cpu")


def reference_embeddings(model, texts: list[str], images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
    """The reference encodes one modality per call."""
    return model.encode(texts), model.encode(images)


def assert_same_as_reference(model: SentenceTransformer, reference_model) -> None:
    images = random_images(4)
    expected_texts, expected_images = reference_embeddings(reference_model, TEXTS, images)
    np.testing.assert_allclose(model.encode(TEXTS), expected_texts, atol=1e-5)
    np.testing.assert_allclose(model.encode(images), expected_images, atol=1e-5)


def test_texts_and_images_match_the_reference(ours, reference):
    assert isinstance(ours[0], CLIPModel)
    assert ours.modalities == ["text", "image"]
    assert ours.get_embedding_dimension() == 16 and ours.max_seq_length == 77
    assert_same_as_reference(ours, reference)


def test_a_mixed_list_gives_each_item_its_own_towers_embedding(ours):
    images = random_images(3)
    mixed = [TEXTS[0], images[0], TEXTS[1], images[1], images[2], TEXTS[0]]
    embeddings = ours.encode(mixed, batch_size=2)
    text_part, image_part = ours.encode([TEXTS[0], TEXTS[1]]), ours.encode(images)
    expected = np.stack([text_part[0], image_part[0], text_part[1], *image_part[1:], text_part[0]])
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)
    single = ours.encode(images[0], convert_to_tensor=True)
    assert single.shape == (16,)
    np.testing.assert_allclose(single.numpy(), image_part[0], atol=1e-5)


def test_a_prompt_goes_before_texts_only(ours):
    image = random_images(1)[0]
    prompted = ours.encode(["a cat", image], prompt="photo: ")
    np.testing.assert_allclose(prompted[0], ours.encode("photo: a cat"), atol=1e-5)
    np.testing.assert_allclose(prompted[1], ours.encode(image), atol=1e-5)


def test_our_folder_loads_in_the_reference_and_theirs_in_ours(ours, reference, tmp_path):
    from sentence_transformers import SentenceTransformer as Reference

    ours.save(str(tmp_path / "ours"))
    entries = json.loads((tmp_path / "ours" / "modules.json").read_text())
    assert entries == [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.CLIPModel"}]
    assert_same_as_reference(ours, Reference(str(tmp_path / "ours"), device="cpu"))

    reference.save(str(tmp_path / "theirs"))
    theirs = SentenceTransformer(str(tmp_path / "theirs"), device="cpu")
    assert isinstance(theirs[0], CLIPModel)
    assert_same_as_reference(theirs, reference)
    ours_config = json.loads((tmp_path / "ours" / "sentence_bert_config.json").read_text())
    assert ours_config == json.loads((tmp_path / "theirs" / "sentence_bert_config.json").read_text())


def test_image_search_with_semantic_search_matches_the_reference(ours, reference):
    from sentence_transformers import util as reference_util

    images = random_images(6)
    queries = ["a red picture", "something green", "blue"]
    hits = util.semantic_search(ours.encode(queries), ours.encode(images), top_k=3)
    expected = reference_util.semantic_search(
        torch.from_numpy(reference.encode(queries)), torch.from_numpy(reference.encode(images)), top_k=3
    )

    def ids(rows):
        return [[hit["corpus_id"] for hit in row] for row in rows]

    assert ids(hits) == ids(expected)
    for row, expected_row in zip(hits, expected, strict=True):
        np.testing.assert_allclose([hit["score"] for hit in row], [hit["score"] for hit in expected_row], atol=1e-5)


def test_an_input_that_is_neither_text_nor_image_is_named(ours):
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a str or a PIL image, got int"):
        ours.encode(["a cat", 3])
    with pytest.raises(TypeError, match="inputs must be a str or a PIL image, got bytes"):
        ours.encode(b"a cat")
    with pytest.raises(ValueError, match="cache and chunking work on texts only"):
        ours.encode(random_images(1), chunking=True)


def test_missing_pillow_is_named_with_the_extra(ours, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"inputs\[1\] is a ndarray, not a str; encoding images needs Pillow"):
        ours.encode(["a cat", np.zeros((4, 4, 3))])


def test_a_text_model_refuses_an_image_by_name(minilm_l3):
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a str, got Image"):
        minilm_l3.encode(random_images(1))


def test_token_embeddings_are_refused_by_name(ours):
    with pytest.raises(ValueError, match="CLIPModel does not produce"):
        ours.encode(["a photo of a cat"], output_value="token_embeddings")


@pytest.mark.parametrize("size", [(0, 0), (0, 8), (8, 0)])
def test_an_empty_image_is_named(ours, size):
    with pytest.raises(ValueError, match=rf"inputs\[1\] is an empty image \({size[0]}x{size[1]} pixels\)"):
        ours.encode(["a text", Image.new("RGB", size)])
