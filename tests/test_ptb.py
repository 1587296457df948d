from pathlib import Path

import numpy as np
import pytest

from fastrnn.datasets import ptb

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"


def test_published_facts():
    corpus, word_to_id, id_to_word = ptb.load_data("train")
    assert len(corpus) == 929_589 and len(word_to_id) == 10_000
    assert id_to_word[0] == "aer" and word_to_id["aer"] == 0
    assert all(id_to_word[i] == w for w, i in word_to_id.items())
    assert corpus.min() == 0 and corpus.max() == 9_999
    assert len(ptb.load_data("valid")[0]) == 73_760
    assert len(ptb.load_data("test")[0]) == 82_430
    np.testing.assert_array_equal(ptb.load_data("val")[0], ptb.load_data("valid")[0])


def test_unknown_split():
    with pytest.raises(ValueError, match="data_type must be one of"):
        ptb.load_data("training")


@pytest.mark.skipif(not SHARED.exists(), reason="the shared PTB copy is not beside this checkout")
@pytest.mark.parametrize("split,file", [("train", "ptb.train.txt"), ("test", "ptb.test.txt")])
def test_matches_raw_files(split, file):
    """Ids in order of first appearance in the raw training file, line ends as <eos>."""
    vocab = {}
    for w in (SHARED / "ptb.train.txt").read_text().replace("\n", "<eos>").split():
        vocab.setdefault(w, len(vocab))
    words = (SHARED / file).read_text().replace("\n", "<eos>").split()
    corpus, word_to_id, _ = ptb.load_data(split)
    assert word_to_id == vocab
    np.testing.assert_array_equal(corpus, [vocab[w] for w in words])
