"""Finding, loading and saving model folders in the standard format."""

from sentembed.loading.folder import ModelConfig, load_modules, save_modules
from sentembed.loading.resolve import resolve_model_path

__all__ = ["ModelConfig", "load_modules", "resolve_model_path", "save_modules"]
