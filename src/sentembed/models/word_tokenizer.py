"""WhitespaceTokenizer: splits on whitespace, strips punctuation, drops stop words, maps words to vocabulary ids."""

from __future__ import annotations

import os
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sentembed.common.files import read_json_object, write_json

TOKENIZER_CONFIG_FILE = "whitespacetokenizer_config.json"

# English stop words (the scikit-learn list with NLTK's contraction stems) and punctuation, the reference's default.
_STOP_WORD_TEXT = """
    a about above across after afterwards again against ain all almost alone along already also although always am
    among amongst amoungst amount an and another any anyhow anyone anything anyway anywhere are aren around as at
    back be became because become becomes becoming been before beforehand behind being below beside besides
    between beyond bill both bottom but by call can cannot cant co con could couldn couldnt cry d de describe
    detail did didn do does doesn doing don done down due during each eg eight either eleven else elsewhere empty
    enough etc even ever every everyone everything everywhere except few fifteen fifty fill find fire first five
    for former formerly forty found four from front full further get give go had hadn has hasn hasnt have haven
    having he hence her here hereafter hereby herein hereupon hers herself him himself his how however hundred i
    ie if in inc indeed interest into is isn it its itself just keep last latter latterly least less ll ltd m ma
    made many may me meanwhile might mightn mill mine more moreover most mostly move much must mustn my myself
    name namely needn neither never nevertheless next nine no nobody none noone nor not nothing now nowhere o of
    off often on once one only onto or other others otherwise our ours ourselves out over own part per perhaps
    please put rather re s same see seem seemed seeming seems serious several shan she should shouldn show side
    since sincere six sixty so some somehow someone something sometime sometimes somewhere still such system t
    take ten than that the their theirs them themselves then thence there thereafter thereby therefore therein
    thereupon these they thick thin third this those though three through throughout thru thus to together too top
    toward towards twelve twenty two un under until up upon us ve very via was wasn we well were weren what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever whether which while
    whither who whoever whole whom whose why will with within without won would wouldn y yet you your yours
    yourself yourselves
"""
ENGLISH_STOP_WORDS: frozenset[str] = frozenset([*_STOP_WORD_TEXT.split(), *string.punctuation, "''", "``"])


class WhitespaceTokenizer:
    """Word ids of a text: split at whitespace; each word, else it without surrounding punctuation, else that
    lowercased, is looked up; stop words and words outside the vocabulary are dropped.

    Args:
        vocab: The vocabulary, in id order. Default: empty.
        stop_words: Words to drop. Default: English stop words.
        do_lower_case: Lowercase every text first. Default False.
    """

    def __init__(
        self,
        vocab: Iterable[str] = (),
        stop_words: Iterable[str] = ENGLISH_STOP_WORDS,
        do_lower_case: bool = False,
    ) -> None:
        self.stop_words = set(stop_words)
        self.do_lower_case = do_lower_case
        self.set_vocab(vocab)

    def get_vocab(self) -> list[str]:
        """The vocabulary.

        Returns:
            The words, in id order.
        """
        return self.vocab

    def set_vocab(self, vocab: Iterable[str]) -> None:
        """Replace the vocabulary.

        Args:
            vocab: The words, in id order.
        """
        self.vocab = list(vocab)
        self.word2idx = {word: index for index, word in enumerate(self.vocab)}

    def tokenize(self, text: str, **kwargs: Any) -> list[int]:
        """The ids of a text's words.

        Args:
            text: The text.
            **kwargs: Ignored (tokenizer options other tokenizers take).

        Returns:
            The ids, in order; unknown words and stop words are left out.
        """
        if self.do_lower_case:
            text = text.lower()
        ids = []
        for word in text.split():
            index = self._lookup(word)
            if index is not None:
                ids.append(index)
        return ids

    def _lookup(self, word: str) -> int | None:
        """The id of the first form of `word` found: as written, stripped of punctuation, then lowercased."""
        stripped = word.strip(string.punctuation)
        for form in (word, stripped, stripped.lower()):
            if form in self.stop_words:
                return None
            if form and form in self.word2idx:
                return self.word2idx[form]
        return None

    def save(self, output_path: str | os.PathLike) -> None:
        """Write `whitespacetokenizer_config.json` (vocab, stop words, do_lower_case), as the reference does.

        Args:
            output_path: The folder.
        """
        config = {"vocab": self.vocab, "stop_words": sorted(self.stop_words), "do_lower_case": self.do_lower_case}
        write_json(Path(output_path) / TOKENIZER_CONFIG_FILE, config)

    @classmethod
    def load(cls, input_path: str | os.PathLike) -> WhitespaceTokenizer:
        """Read a tokenizer written by `save`.

        Args:
            input_path: The folder.

        Returns:
            The tokenizer.

        Raises:
            OSError: A missing or invalid config file.
        """
        path = Path(input_path) / TOKENIZER_CONFIG_FILE
        if not path.is_file():
            raise OSError(f"{path} is missing: a WordEmbeddings folder holds its tokenizer's vocabulary there")
        config = read_json_object(path)
        return cls(config.get("vocab", []), config.get("stop_words", ()), config.get("do_lower_case", False))
