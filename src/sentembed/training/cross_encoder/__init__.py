"""Cross-encoder training: losses, evaluators and the trainer."""
