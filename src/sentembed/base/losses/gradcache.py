"""Gradient caching helpers at their sentence-transformers 6 path (`sentembed.base.losses.gradcache`).

A compatibility facade for `sentence_transformers.base.losses.gradcache`: it only re-exports names whose canonical
home is `sentembed.training.losses`.
"""

from sentembed.training.losses import RandContext

__all__ = ["RandContext"]
