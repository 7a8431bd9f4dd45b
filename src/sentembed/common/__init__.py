"""The ground floor: argument checks, batching, runtime facts, file helpers, shared types and the error family.

Nothing here imports any other part of sentembed, so every package may import it.
"""
