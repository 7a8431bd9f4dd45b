"""Cross-encoders: score text pairs read together, and re-rank a bi-encoder's hits."""

from sentembed.cross_encoder.model import CrossEncoder

__all__ = ["CrossEncoder"]
