"""The ground floor: argument checks, batching, runtime facts, file helpers and shared types.

Nothing here imports any other part of sentembed, so every package may import it.
"""
