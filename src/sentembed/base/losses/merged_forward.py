"""Embedding several text columns in one forward pass, at its sentence-transformers 6 path
(`sentembed.base.losses.merged_forward`).

A compatibility facade for `sentence_transformers.base.losses.merged_forward`: it only re-exports names whose
canonical home is `sentembed.training.losses.merged_forward`.
"""

from sentembed.training.losses.merged_forward import column_merging_disabled, embed_columns, merge_feature_batches

__all__ = ["column_merging_disabled", "embed_columns", "merge_feature_batches"]
