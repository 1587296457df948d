"""Your own text as a corpus: tokens, vocabulary, conversion, the cache."""
import hashlib
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fastrnn.datasets import ptb, text

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"


def oracle_tokens(content: str) -> list:
    """Words split at whitespace, each '\\n' an <eos> (written from the rule, not the code)."""
    lines = content.split("\n")
    tokens = []
    for i, line in enumerate(lines):
        tokens += line.split()
        if i < len(lines) - 1:
            tokens.append("<eos>")
    return tokens


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def test_tokens_ids_and_vocabulary_order(tmp_path):
    content = "b a  c\r\nc c b\n\n d\td e\u00e9 a"  # CRLF, an empty line, a tab, no final line end
    src = write(tmp_path / "t.txt", content)
    corpus, word_to_id, id_to_word = text.load_data(src, cache_dir=tmp_path / "cache", progress=False)
    tokens = oracle_tokens(content)
    order = list(dict.fromkeys(tokens)) + ["<unk>"]  # first appearance; <unk> appended as it is absent
    assert list(word_to_id) == order and id_to_word == dict(enumerate(order))
    np.testing.assert_array_equal(corpus, [word_to_id[w] for w in tokens])
    assert corpus.dtype == np.uint16 and isinstance(corpus, np.memmap) and not corpus.flags.writeable


def test_vocab_size_keeps_the_most_frequent_ties_by_first_appearance(tmp_path):
    words = "x y z w y z w z w w q <unk> r".split()  # counts: w4 z3 y2, then x q <unk> r once each
    src = write(tmp_path / "t.txt", " ".join(words) + "\n")
    counts = Counter(oracle_tokens(" ".join(words) + "\n"))
    for K in (2, 4, 5, 6):
        corpus, word_to_id, _ = text.load_data(src, vocab_size=K, cache_dir=tmp_path / "c", progress=False)
        ranked = sorted((w for w in counts if w != "<unk>"), key=lambda w: (-counts[w], words.index(w)
                                                                         if w in words else len(words)))
        kept = set(ranked[:K - 1]) | {"<unk>"}
        expected_order = [w for w in dict.fromkeys(oracle_tokens(" ".join(words) + "\n")) if w in kept]
        assert list(word_to_id) == expected_order and len(word_to_id) == K
        unk = word_to_id["<unk>"]
        np.testing.assert_array_equal(corpus, [word_to_id.get(w, unk) for w in oracle_tokens(" ".join(words) + "\n")])


def test_min_count_and_unseen_words_of_other_files(tmp_path):
    train = write(tmp_path / "train.txt", "a a b b c\nd a\n")
    valid = write(tmp_path / "valid.txt", "a new c b\n")
    corpus, word_to_id, _ = text.load_data(train, "valid", valid_file=valid, min_count=2, cache_dir=tmp_path / "c",
                                           progress=False)
    assert list(word_to_id) == ["a", "b", "<eos>", "<unk>"]
    unk = word_to_id["<unk>"]
    np.testing.assert_array_equal(corpus, [0, unk, unk, 1, word_to_id["<eos>"]])


def test_ptb_files_give_ptb_load_data_exactly(tmp_path):
    if not SHARED.exists():
        pytest.skip("the shared PTB files are not beside this checkout")
    files = dict(valid_file=SHARED / "ptb.valid.txt", test_file=SHARED / "ptb.test.txt", cache_dir=tmp_path)
    for kind in ("train", "val", "test"):
        corpus, word_to_id, id_to_word = text.load_data(SHARED / "ptb.train.txt", kind, progress=False, **files)
        want, w2i, i2w = ptb.load_data(kind)
        np.testing.assert_array_equal(corpus, want)
        assert word_to_id == w2i and id_to_word == i2w


def test_uint32_when_the_vocabulary_needs_it(tmp_path):
    words = [f"w{i}" for i in range(70_000)]
    src = write(tmp_path / "big.txt", " ".join(words) + "\n")
    corpus, word_to_id, _ = text.load_data(src, cache_dir=tmp_path, progress=False)
    assert corpus.dtype == np.uint32 and len(word_to_id) == 70_002
    np.testing.assert_array_equal(corpus[:3], [0, 1, 2])
    assert corpus[-1] == word_to_id["<eos>"]


def test_streamed_in_chunks_gives_the_same(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    lines = [" ".join(f"w{rng.integers(0, 300)}" for _ in range(rng.integers(0, 30))) for _ in range(2000)]
    content = "\n".join(lines) + "\n" + "x" * 50 + " tail\u00e9\u00e9"  # multibyte characters split by chunks
    src = write(tmp_path / "t.txt", content)
    monkeypatch.setattr(text, "CHUNK", 97)  # lines and characters split across reads
    corpus, word_to_id, _ = text.load_data(src, cache_dir=tmp_path / "c", progress=False)
    np.testing.assert_array_equal(corpus, [word_to_id[w] for w in oracle_tokens(content)])


def test_a_long_line_is_cut_between_words(tmp_path, monkeypatch):
    content = " ".join(f"w{i % 50}" for i in range(5000))  # one line, no line end
    src = write(tmp_path / "t.txt", content)
    monkeypatch.setattr(text, "CHUNK", 64)
    corpus, word_to_id, _ = text.load_data(src, cache_dir=tmp_path / "c", progress=False)
    np.testing.assert_array_equal(corpus, [word_to_id[w] for w in content.split()])


def test_one_line_without_spaces_is_read_in_bounded_pieces(tmp_path, monkeypatch):
    """A file with no line end and no space (one-line DNA, CJK text, minified text): with
    --tokens chars it streams in pieces of about CHUNK bytes (the unread rest is never
    joined again and again), a "\\r\\n" never split; with words, a word over MAX_WORD
    characters is refused."""
    monkeypatch.setattr(text, "CHUNK", 64)
    monkeypatch.setattr(text, "MAX_WORD", 500)
    rng = np.random.default_rng(5)
    content = "".join(rng.choice(list("ACGT\u4e2d\u6587")) for _ in range(3000)) + "\r\n" + "GATTACA\r\n" * 3
    src = write(tmp_path / "dna.txt", content)
    pieces = list(text._text_chunks(str(src), hashlib.sha256(), False, "chars"))
    assert "".join(pieces) == content and max(len(p.encode()) for p in pieces) <= 64 + 3
    assert not any(p.endswith("\r") for p in pieces)
    vocab = text.build_vocabulary(src, cache_dir=tmp_path / "c", progress=False, tokens="chars")
    ids = text.convert(src, vocab, cache_dir=tmp_path / "c", progress=False).ids
    np.testing.assert_array_equal(ids, [vocab.word_to_id["<eos>" if c == "\n" else c]
                                        for c in content.replace("\r\n", "\n")])
    with pytest.raises(text.CorpusError, match=r"dna.txt has a word of over 500 characters \(no space or line end "
                                               r"before byte [\d,]+\): split into words, it is not text"):
        text.load_data(src, cache_dir=tmp_path / "c", progress=False)


def converted(path, cache):
    vocab = text.build_vocabulary(path, cache_dir=cache, progress=False)
    return vocab, text.convert(path, vocab, cache_dir=cache, progress=False)


def test_second_run_reuses_and_an_edit_converts_again(tmp_path):
    src = write(tmp_path / "t.txt", "a b c\nb c d\n")
    cache = tmp_path / "cache"
    _, first = converted(src, cache)
    assert first.seconds is not None and first.tokens == 8 and first.unks == 0
    _, again = converted(src, cache)
    assert again.seconds is None  # reused
    stat = src.stat()
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same content: checksum says reuse
    _, touched = converted(src, cache)
    assert touched.seconds is None
    write(src, "a b c\nb c e\n")  # same size, new content
    vocab, edited = converted(src, cache)
    assert edited.seconds is not None and "e" in vocab.word_to_id and "d" not in vocab.word_to_id
    np.testing.assert_array_equal(edited.ids, [vocab.word_to_id[w] for w in oracle_tokens("a b c\nb c e\n")])


def test_a_truncated_cache_file_is_converted_again(tmp_path):
    src = write(tmp_path / "t.txt", "a b c\nb c d\n" * 50)
    cache = tmp_path / "cache"
    vocab, first = converted(src, cache)
    [ids_file] = (cache / "ids").rglob("*.ids")
    ids_file.write_bytes(ids_file.read_bytes()[:-3])
    _, again = converted(src, cache)
    assert again.seconds is not None
    np.testing.assert_array_equal(again.ids, [vocab.word_to_id[w] for w in oracle_tokens("a b c\nb c d\n" * 50)])


def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path, monkeypatch):
    content = "a b\nb a c\n"
    plain = write(tmp_path / "plain.txt", content)
    marked = tmp_path / "marked.txt"
    marked.write_bytes(b"\xef\xbb\xbf" + content.encode())
    monkeypatch.setattr(text, "CHUNK", 4)  # the mark split over reads, too
    (vocab, ids), (marked_vocab, marked_ids) = converted(plain, tmp_path / "c1"), converted(marked, tmp_path / "c2")
    assert marked_vocab.words == vocab.words == ["a", "b", "<eos>", "c", "<unk>"]
    np.testing.assert_array_equal(marked_ids.ids, ids.ids)
    assert "\ufeff" in text.Vocabulary(["\ufeffa", "<unk>"]).words[0]  # a mark inside a text stays a character
    later = write(tmp_path / "later.txt", "a \ufeffb\n")
    assert text.convert(later, vocab, tmp_path / "c1", progress=False).ids[1] == vocab.unk_id


def test_a_long_file_name_keeps_cache_names_short(tmp_path):
    src = write(tmp_path / ("\u00e9" * 120 + ".txt"), "a b\n")  # 244 bytes of UTF-8
    converted(src, tmp_path / "cache")
    names = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert names and all(len(n.encode()) <= text.NAME_BYTES + 30 for n in names)


@pytest.mark.parametrize("content,message", [
    (b"abc\x00def\n", "not a text file: a NUL byte at offset 3"),
    (b"caf\xe9 au lait\n", "not UTF-8 text: an invalid byte at offset 3"),
    (b"ok \xe2\x82", "not UTF-8 text: it ends inside a character"),
    (b"", "holds no words"),
    (b" \n\t \n", None),  # only line ends: two <eos>, a corpus of 2 tokens
])
def test_bad_files(tmp_path, content, message):
    src = tmp_path / "bad.txt"
    src.write_bytes(content)
    if message is None:
        corpus, word_to_id, _ = text.load_data(src, cache_dir=tmp_path, progress=False)
        assert list(corpus) == [word_to_id["<eos>"]] * 2
        return
    with pytest.raises(text.CorpusError, match=message):
        text.load_data(src, cache_dir=tmp_path, progress=False)


def test_bad_settings_and_paths(tmp_path):
    src = write(tmp_path / "t.txt", "a b\n")
    with pytest.raises(text.CorpusError, match="vocab_size must be an integer >= 2"):
        text.load_data(src, vocab_size=1, cache_dir=tmp_path)
    with pytest.raises(text.CorpusError, match="min_count must be an integer >= 1"):
        text.load_data(src, min_count=0, cache_dir=tmp_path)
    with pytest.raises(text.CorpusError, match="no such file"):
        text.load_data(tmp_path / "missing.txt", cache_dir=tmp_path)
    with pytest.raises(text.CorpusError, match="not a regular file"):
        text.load_data(tmp_path, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="needs its file: pass test_file"):
        text.load_data(src, "test", cache_dir=tmp_path)
