"""Cross-encoder training: losses, evaluators and the trainer.

`fit_cross_encoder` (the legacy `CrossEncoder.fit`), imported as `name as name` with no `__all__` here, is for
the `CrossEncoder` class.
"""

from sentembed.training.cross_encoder._fit import fit_cross_encoder as fit_cross_encoder
