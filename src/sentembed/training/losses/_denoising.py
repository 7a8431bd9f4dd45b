"""DenoisingAutoEncoderLoss (TSDAE): rebuild a sentence from the embedding of a damaged copy of it."""

from __future__ import annotations

import random
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss


def delete_words(text: str, del_ratio: float = 0.6, rng: random.Random | None = None) -> str:
    """TSDAE's noise: drop each word with probability `del_ratio`, keeping at least one."""
    words = text.split()
    if not words:
        return text
    rng = rng or random
    kept = [word for word in words if rng.random() >= del_ratio]
    return " ".join(kept or [rng.choice(words)])


def tie_shared_parameters(encoder: torch.nn.Module, decoder_base: torch.nn.Module) -> int:
    """Make the decoder use the encoder's parameters wherever names and shapes agree; returns how many."""
    owners = dict(decoder_base.named_modules())
    tied = 0
    for name, parameter in encoder.named_parameters():
        module_name, _, attribute = name.rpartition(".")
        owner = owners.get(module_name)
        current = getattr(owner, attribute, None) if owner is not None else None
        if isinstance(current, torch.nn.Parameter) and current.shape == parameter.shape:
            setattr(owner, attribute, parameter)
            tied += 1
    return tied


class DenoisingAutoEncoderLoss(EmbeddingLoss):
    """(damaged sentence, original sentence) rows: a decoder reads only the embedding of the damaged one.

    Args:
        model: The SentenceTransformer being trained (its first module a Transformer).
        decoder_name_or_path: The decoder's checkpoint. Default None: the encoder's own.
        tie_encoder_decoder: Share the encoder's parameters with the decoder where they match. Default True.

    Raises:
        ValueError: Tying with a decoder other than the encoder's checkpoint.
    """

    columns = ColumnSpec(2, 2)

    def __init__(self, model: Any, decoder_name_or_path: str | None = None, tie_encoder_decoder: bool = True) -> None:
        super().__init__(model)
        encoder = model[0].auto_model
        name = decoder_name_or_path or encoder.config._name_or_path
        if tie_encoder_decoder and decoder_name_or_path not in (None, encoder.config._name_or_path):
            raise ValueError("tie_encoder_decoder=True needs the decoder to be the encoder's own checkpoint")
        config = AutoConfig.from_pretrained(name, is_decoder=True, add_cross_attention=True)
        self.decoder = AutoModelForCausalLM.from_pretrained(name, config=config).to(model.device)
        self.decoder_tokenizer = AutoTokenizer.from_pretrained(name)
        self.same_tokenizer = decoder_name_or_path is None
        self.tie_encoder_decoder = tie_encoder_decoder
        if tie_encoder_decoder:
            self.tie_decoder_to(encoder, name)

    @property
    def encoder(self) -> Any:
        """The model being trained: it embeds the damaged sentences (the decoder is dropped after training)."""
        return self.model

    def tie_decoder_to(self, encoder: torch.nn.Module, name: str) -> None:
        """Share the encoder's parameters with the decoder, keeping a language-model head that was tied to the
        decoder's input embeddings tied to them (now the encoder's).

        Args:
            encoder: The encoder network.
            name: The decoder's checkpoint, for the error message.

        Raises:
            ValueError: No parameter could be tied.
        """
        head = self.decoder.get_output_embeddings()
        head_was_tied = head is not None and head.weight is self.decoder.get_input_embeddings().weight
        if not tie_shared_parameters(encoder, getattr(self.decoder, self.decoder.base_model_prefix)):
            raise ValueError(f"could not tie any parameter of the encoder to the decoder {name}")
        if head_was_tied:
            head.weight = self.decoder.get_input_embeddings().weight

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        damaged, original = sentence_features
        embedding = self.model(dict(damaged))["sentence_embedding"]
        target = original if self.same_tokenizer else self._retokenize(original)
        input_ids, attention_mask = target["input_ids"], target["attention_mask"]
        outputs = self.decoder(
            input_ids=input_ids[:, :-1],
            attention_mask=attention_mask[:, :-1],
            encoder_hidden_states=embedding[:, None, :],
            encoder_attention_mask=torch.ones_like(input_ids[:, :1]),
        )
        targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
        return torch.nn.functional.cross_entropy(outputs.logits.flatten(0, 1), targets.flatten(), ignore_index=-100)

    def _retokenize(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        texts = self.model.tokenizer.batch_decode(features["input_ids"], skip_special_tokens=True)
        encoded = self.decoder_tokenizer(texts, padding=True, truncation=True, max_length=300, return_tensors="pt")
        return {name: tensor.to(features["input_ids"].device) for name, tensor in encoded.items()}

    def get_config_dict(self) -> dict[str, Any]:
        return {"decoder": self.decoder.config._name_or_path, "tie_encoder_decoder": self.tie_encoder_decoder}
