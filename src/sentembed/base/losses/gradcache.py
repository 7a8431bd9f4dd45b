"""Gradient caching helpers at their sentence-transformers 6 path (`sentembed.base.losses.gradcache`)."""

from sentembed.training.losses.cached import RandContext

__all__ = ["RandContext"]
