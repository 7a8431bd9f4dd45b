"""Training and evaluation: losses, evaluators, the trainers and the legacy `fit` API.

`evaluation` and `losses` need only torch; the trainers also need the `train` extra (datasets, accelerate).
"""
