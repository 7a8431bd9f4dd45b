"""Finding, loading and saving model folders in the standard format, and their model cards.

`registry` (the module type table, and `trusted_module_classes`) and `resolve` (whose logger,
`sentembed.loading.resolve`, reports where a model loads from) are public submodules. The names imported as
`name as name` and left out of `__all__` are for the model classes and the trainers on the floors above, not for
users.
"""

from sentembed.loading._card_data import BaseModelCardData, CrossEncoderModelCardData, SentenceTransformerModelCardData
from sentembed.loading._card_data import card_data_for as card_data_for
from sentembed.loading._card_stats import hub_dataset_source as hub_dataset_source
from sentembed.loading._folder import MODEL_CONFIG_FILE as MODEL_CONFIG_FILE
from sentembed.loading._folder import MODULES_FILE as MODULES_FILE
from sentembed.loading._folder import ModelConfig, load_modules, save_modules
from sentembed.loading._hub import PushToHubMixin as PushToHubMixin
from sentembed.loading._model_card import generate_model_card
from sentembed.loading._model_card import write_model_card as write_model_card
from sentembed.loading.resolve import resolve_model_path

__all__ = [
    "BaseModelCardData",
    "CrossEncoderModelCardData",
    "ModelConfig",
    "SentenceTransformerModelCardData",
    "generate_model_card",
    "load_modules",
    "resolve_model_path",
    "save_modules",
]
