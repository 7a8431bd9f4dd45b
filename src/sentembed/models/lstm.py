"""LSTM: a (bidirectional) LSTM over the token embeddings."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from sentembed.common.types import Features
from sentembed.models.base import WeightedModule


class LSTM(WeightedModule):
    """Replace token embeddings by the LSTM's outputs (`hidden_dim`, doubled when bidirectional); padding is
    skipped through each row's `sentence_lengths`.

    Args:
        embedding_dimension: The token embeddings' size.
        hidden_dim: The LSTM's hidden size.
        num_layers: Stacked LSTM layers. Default 1.
        dropout: Dropout between layers. Default 0.
        bidirectional: Run both directions and concatenate them. Default True.
    """

    config_file_name = "lstm_config.json"
    config_keys = ("embedding_dimension", "hidden_dim", "num_layers", "dropout", "bidirectional")

    def __init__(
        self,
        embedding_dimension: int,
        hidden_dim: int,
        num_layers: int = 1,
        dropout: float = 0,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        self.embedding_dimension = embedding_dimension
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.encoder = nn.LSTM(
            embedding_dimension,
            hidden_dim,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.embeddings_dimension = hidden_dim * (2 if bidirectional else 1)

    def get_word_embedding_dimension(self) -> int:
        """The output token embeddings' size.

        Returns:
            The dimension.
        """
        return self.embeddings_dimension

    get_embedding_dimension = get_word_embedding_dimension

    def forward(self, features: Features) -> Features:
        """Run the LSTM over the token embeddings.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, "token_embeddings" replaced.
        """
        tokens = features["token_embeddings"]
        lengths = features["sentence_lengths"].clamp(min=1).cpu()
        packed = pack_padded_sequence(tokens, lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = pad_packed_sequence(self.encoder(packed)[0], batch_first=True, total_length=tokens.shape[1])
        features["token_embeddings"] = outputs
        return features
