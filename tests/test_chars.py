"""Character models (--tokens chars): every character a token, line ends kept as
<eos>; a model trained one epoch beats the unigram model's bits per character."""
import math
import re
from collections import Counter

import numpy as np

from cli_support import SMALL, fastrnn, markov_files, text_args, value
from fastrnn.datasets import text


def test_characters_are_the_tokens(tmp_path):
    content = "ab c\r\nca\u00e9\n\n d"
    src = tmp_path / "t.txt"
    src.write_text(content, encoding="utf-8", newline="")
    cache = tmp_path / "cache"
    vocab = text.build_vocabulary(src, cache_dir=cache, progress=False, tokens="chars")
    expected = [("<eos>" if c == "\n" else c) for c in content.replace("\r\n", "\n")]  # the rule, written out
    assert vocab.words == [*dict.fromkeys(expected), "<unk>"] and vocab.tokens == "chars"
    ids = text.convert(src, vocab, cache, progress=False).ids
    np.testing.assert_array_equal(ids, [vocab.word_to_id[c] for c in expected])
    words = text.build_vocabulary(src, cache_dir=cache, progress=False)  # the same file as words: its own cache
    assert words.words[:2] == ["ab", "c"] and words.checksum != vocab.checksum
    assert text.convert(src, words, cache, progress=False).ids.size == len(content.replace("\n", " <eos> ").split())


def unigram_bits(train: str, test: str) -> float:
    """Bits per character of the test text under the training text's character
    frequencies (add-one smoothed), line ends counted as characters."""
    counts = Counter(train)
    total = sum(counts.values()) + len(set(train) | set(test))
    return -sum(math.log2((counts[c] + 1) / total) for c in test) / len(test)


def test_a_character_model_beats_the_unigram_model(tmp_path):
    files = markov_files(tmp_path, sizes=(20_000, 3_000, 3_000))
    out = tmp_path / "run"
    run = fastrnn("train", *text_args(files, tmp_path / "cache"), *SMALL, "--tokens", "chars", "--epochs", 1,
                  "--hidden-size", 64, "--time-size", 20, "--out", out)
    bits = float(re.search(r"test perplexity: [\d.]+ \(bits per character: ([\d.]+)\)", run.stdout).group(1))
    assert abs(bits - math.log2(value("test perplexity", run.stdout))) < 0.01  # (the perplexity printed rounded)
    baseline = unigram_bits(files["train"].read_text(), files["test"].read_text())
    assert bits < 0.5 * baseline, (bits, baseline)  # the stated margin: under half the unigram model's bits
    ev = fastrnn("eval", out / "params.npz", "--test-file", files["test"], "--cache-dir", tmp_path / "cache").stdout
    assert f"bits per character: {bits:.4f}" in ev
    generated = fastrnn("generate", out / "params.npz", "--prompt", "w1 w", "--length", 40, "--temperature", 0).stdout
    assert generated.startswith("w1 w") and len(generated.rstrip("\n").replace("\n", "")) <= 40
    assert re.fullmatch(r"(w\d+ ?)+", generated.split("\n")[0].strip())  # words of the chain, spelt out
    scored = fastrnn("score", out / "params.npz", "-", "--per-word", input="w1 w2\n").stdout.split("\t")
    assert scored[2] == "6" and scored[3].startswith("'w'=") and scored[3].split(" ")[-1].startswith("<eos>=")


def test_characters_need_own_text():
    run = fastrnn("train", "--tokens", "chars", check=False)
    assert run.returncode == 2 and run.stderr.strip() == ("fastrnn train: error: --tokens chars needs --train-file "
                                                          "(the bundled Penn Treebank is words)")
