"""The legacy dataset readers, importable as `sentence_transformers.readers` was (`sentembed.readers`).

A compatibility facade for `sentence_transformers.readers`: it only re-exports names whose canonical homes are
`sentembed.training.input_example` and `sentembed.training.readers`.
"""

from sentembed.training.input_example import InputExample
from sentembed.training.readers import (
    LabelSentenceReader,
    NLIDataReader,
    PairedFilesReader,
    STSBenchmarkDataReader,
    STSDataReader,
    TripletReader,
)

__all__ = [
    "InputExample",
    "LabelSentenceReader",
    "NLIDataReader",
    "PairedFilesReader",
    "STSBenchmarkDataReader",
    "STSDataReader",
    "TripletReader",
]
