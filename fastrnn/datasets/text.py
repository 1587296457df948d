"""Your own text as a word-level corpus: a vocabulary from the training file, and
each file converted once into a memory-mapped array of word ids.

Tokens are as the PTB loader makes them: words split at whitespace, and every
line end (``\\n``) an ``<eos>``.  The vocabulary comes from the training file
only: the ``vocab_size`` most frequent words (all words seen at least
``min_count`` times by default), ties going to the word that appears first;
ids are then numbered in order of first appearance, so PTB's training file
gives exactly ``ptb.load_data``'s ids.  ``<unk>`` is always in the vocabulary:
where the training text has it (counting toward ``vocab_size``), else as the
last id; every other word, and every word of a validation or test file that
the vocabulary lacks, becomes ``<unk>``.

Conversion streams a file in chunks of ``CHUNK`` bytes (strict UTF-8, no NUL
bytes; a leading byte-order mark is dropped), so memory stays bounded whatever
the file's size.  Its ids go to
``<cache>/ids/<vocabulary>/<name>-<path key>.ids`` (uint16 when the vocabulary
fits, else uint32) beside a JSON file holding the format version, the source's
path, size, modification time and SHA-256, and the token and ``<unk>`` counts
(``<name>`` is the source's file name cut to ``NAME_BYTES``); the vocabulary goes
to ``<cache>/vocab/``.  A later call reuses both while the
source's size and modification time (or, failing those, its checksum) are
unchanged, and converts again otherwise.  The cache is ``cache_dir``, else
``$FASTRNN_CACHE``, else ``$XDG_CACHE_HOME/fastrnn`` or ``~/.cache/fastrnn``.
"""
from __future__ import annotations

import codecs
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from ..params_file import atomic_write

FORMAT = 2
"""Version of the converted files; files of another version are converted again
(2: a leading UTF-8 byte-order mark is not part of the first word)."""
NAME_BYTES = 96
"""Bytes of a source's name kept in the names of its cache files (the rest of a
cache file's name is a key of its full path: names stay below 255 bytes)."""
CHUNK = 1 << 22
"""Bytes read at a time."""
MAX_WORD = 1 << 20
"""Characters of the longest word a text file may hold (--tokens words)."""
UNK, EOS = "<unk>", "<eos>"
_WHITESPACE = " \t\r\v\f"


class CorpusError(ValueError):
    """A file that cannot be a corpus (missing, binary, not UTF-8, empty) or bad settings."""


class CacheError(CorpusError):
    """No usable cache directory (none can be named, or it cannot be written)."""


def cache_root(cache_dir=None) -> Path:
    """``cache_dir``, else ``$FASTRNN_CACHE``, else ``$XDG_CACHE_HOME/fastrnn``, else
    ``~/.cache/fastrnn``; raises CacheError when none of them can be named."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("FASTRNN_CACHE"):
        return Path(os.environ["FASTRNN_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "fastrnn"
    try:
        return Path.home() / ".cache" / "fastrnn"
    except (RuntimeError, KeyError):  # no $HOME, and a user id the password database lacks
        raise CacheError("no cache directory: $HOME is not set and this user has no home directory; give "
                         "--cache-dir (or set $FASTRNN_CACHE)") from None


def _short(name: str) -> str:
    """``name`` cut to at most NAME_BYTES bytes of UTF-8, at a character's boundary."""
    return name.encode("utf-8", "surrogateescape")[:NAME_BYTES].decode("utf-8", "ignore")


def _key(*parts) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Source:
    """A source file as found: absolute path, size, modification time and (once
    read) SHA-256."""

    path: str
    size: int
    mtime_ns: int
    sha256: str | None = None

    @classmethod
    def of(cls, path) -> "Source":
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise CorpusError(f"{path}: no such file") from None
        except OSError as e:
            raise CorpusError(f"{path}: cannot read it ({e.strerror})") from None
        if not p.is_file():
            raise CorpusError(f"{path} is not a regular file")
        return cls(str(p.resolve()), st.st_size, st.st_mtime_ns)

    def unchanged(self, recorded: dict, verify: bool = False) -> bool:
        """Whether the file is the one ``recorded`` (a ``Source`` as a dict) describes:
        same size and modification time, or same size and checksum; with ``verify``,
        same size and checksum (the file read whatever its times say)."""
        if recorded.get("size") != self.size:
            return False
        if recorded.get("mtime_ns") == self.mtime_ns and not verify:
            return True
        return _sha256(self.path) == recorded.get("sha256")


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _text_chunks(path: str, digest, progress, tokens: str = "words"):
    """The decoded text of ``path`` in pieces of whole lines (the last may lack its
    line end), each at most about CHUNK bytes; the raw bytes go to ``digest``.  A
    line longer than that is cut between words, or with ``tokens`` "chars"
    anywhere but inside a line end; a word longer than MAX_WORD characters is
    refused (CorpusError): the pieces, and the memory, stay bounded."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=os.path.getsize(path), unit="B", unit_scale=True, desc=Path(path).name, leave=False)
    offset, rest, first = 0, "", True
    try:
        with open(path, "rb") as f:
            while raw := f.read(CHUNK):
                nul = raw.find(b"\0")
                if nul >= 0:
                    raise CorpusError(f"{path} is not a text file: a NUL byte at offset {offset + nul}")
                digest.update(raw)
                pending = len(decoder.getstate()[0])  # bytes of a character split by the last read
                try:
                    text = rest + decoder.decode(raw)
                except UnicodeDecodeError as e:
                    raise CorpusError(f"{path} is not UTF-8 text: an invalid byte at offset "
                                      f"{offset - pending + e.start}") from None
                if first and text:  # a byte-order mark is not text
                    text, first = text.removeprefix("\ufeff"), False
                offset += len(raw)
                if bar is not None:
                    bar.update(len(raw))
                cut = text.rfind("\n")
                if cut < 0 and tokens == "chars":  # one very long line: every character is a token
                    cut = len(text) - 1 - text.endswith("\r")  # (a "\r\n" stays whole)
                elif cut < 0:  # one very long line: cut it between words
                    cut = max(text.rfind(c) for c in _WHITESPACE)
                if cut < 0:
                    if len(text) > MAX_WORD:
                        raise CorpusError(f"{path} has a word of over {MAX_WORD:,} characters (no space or line end "
                                          f"before byte {offset:,}): split into words, it is not text (--tokens "
                                          "chars reads any text as characters)")
                    rest = text
                    continue
                yield text[:cut + 1]
                rest = text[cut + 1:]
            try:
                rest += decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise CorpusError(f"{path} is not UTF-8 text: it ends inside a character") from None
            if rest:
                yield rest
    finally:
        if bar is not None:
            bar.close()


TOKENS = ("words", "chars")
"""How text becomes tokens: words split at whitespace, or every character (a
line end, and a carriage return before it, being one ``<eos>`` either way)."""


UNITS = {"words": "words", "chars": "characters"}
"""What the tokens of each kind are called in messages."""


def _tokens(text: str, tokens: str = "words") -> list:
    """Tokens of whole lines, each line end an ``<eos>``."""
    if tokens == "chars":
        return [EOS if c == "\n" else c for c in text.replace("\r\n", "\n")]
    return text.replace("\n", f" {EOS} ").split()


class Vocabulary:
    """Tokens in id order (``tokens``: "words" or "chars", see ``TOKENS``):
    ``word_to_id``, ``id_to_word``, ``unk_id``, ``checksum``."""

    def __init__(self, words, tokens: str = "words"):
        if tokens not in TOKENS:
            raise CorpusError(f"tokens must be one of {', '.join(TOKENS)}, got {tokens!r}")
        self.tokens = tokens
        self.words = list(words)
        self.word_to_id = {w: i for i, w in enumerate(self.words)}
        if len(self.word_to_id) != len(self.words):
            raise CorpusError("a vocabulary must not repeat a word")
        if UNK not in self.word_to_id:
            raise CorpusError(f"a vocabulary must hold {UNK}")
        self.id_to_word = dict(enumerate(self.words))
        self.unk_id = self.word_to_id[UNK]
        prefix = "" if tokens == "words" else f"{tokens}\n"  # a word vocabulary's checksum as before
        self.checksum = hashlib.sha256((prefix + "\n".join(self.words)).encode()).hexdigest()
        self.dtype = np.dtype(np.uint16 if len(self.words) <= 1 << 16 else np.uint32)

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, tokens: list) -> np.ndarray:
        """The ids of ``tokens`` (``<unk>``'s for unknown words), of dtype ``self.dtype``."""
        return np.fromiter(map(self.word_to_id.get, tokens, repeat(self.unk_id)), self.dtype, len(tokens))

    def split(self, text: str) -> list:
        """The tokens of ``text`` as this vocabulary's training text was split."""
        return _tokens(text, self.tokens)


def _choose(counts: Counter, vocab_size: int | None, min_count: int) -> list:
    """The vocabulary's words, in order of first appearance (``counts``' order)."""
    candidates = [w for w, c in counts.items() if c >= min_count and w != UNK]
    if vocab_size is not None:
        budget = vocab_size - 1  # <unk> takes one id
        ranked = sorted(range(len(candidates)), key=lambda i: -counts[candidates[i]])  # stable: first seen wins
        keep = sorted(ranked[:budget])
        candidates = [candidates[i] for i in keep]
    kept = set(candidates)
    words = [w for w in counts if w in kept or w == UNK]
    return words if UNK in counts else words + [UNK]


def check_settings(vocab_size, min_count) -> None:
    if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer))
                                   or vocab_size < 2):
        raise CorpusError(f"vocab_size must be an integer >= 2 (<unk> and one word), got {vocab_size!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise CorpusError(f"min_count must be an integer >= 1, got {min_count!r}")


def build_vocabulary(train_file, vocab_size: int | None = None, min_count: int = 1, cache_dir=None,
                     progress: bool | None = None, tokens: str = "words") -> Vocabulary:
    """The vocabulary of ``train_file`` (see the module's text) split into
    ``tokens``, read from the cache when the file is unchanged since it was built."""
    check_settings(vocab_size, min_count)
    if tokens not in TOKENS:
        raise CorpusError(f"tokens must be one of {', '.join(TOKENS)}, got {tokens!r}")
    source = Source.of(train_file)
    key = _key(source.path, vocab_size, min_count) if tokens == "words" else _key(source.path, vocab_size, min_count,
                                                                                   tokens)
    path = cache_root(cache_dir) / "vocab" / f"{_short(Path(source.path).name)}-{key}.json"
    recorded = _read_json(path)
    if recorded and recorded.get("format") == FORMAT and source.unchanged(recorded["source"]):
        return Vocabulary(recorded["words"], tokens)
    counts, digest = Counter(), hashlib.sha256()
    for text in _text_chunks(source.path, digest, _progress(progress), tokens):
        counts.update(_tokens(text, tokens))
    if not counts:
        raise CorpusError(f"{train_file} holds no words")
    vocab = Vocabulary(_choose(counts, vocab_size, min_count), tokens)
    if len(vocab) < 2:
        raise CorpusError(f"{train_file} gives a vocabulary of {len(vocab)} word: at least 2 are needed")
    _write_json(path, {"format": FORMAT, "source": vars(Source(source.path, source.size, source.mtime_ns,
                                                                 digest.hexdigest())),
                       "vocab_size": vocab_size, "min_count": min_count, "words": vocab.words})
    return vocab


@dataclass(frozen=True)
class Converted:
    """A converted file: its read-only ids and what the conversion counted."""

    ids: np.memmap
    tokens: int
    unks: int
    seconds: float | None
    """Time the conversion took, or None when the cache had it."""
    sha256: str
    """The source file's SHA-256 when it was converted."""


def convert(path, vocab: Vocabulary, cache_dir=None, progress: bool | None = None,
            verify: bool = False) -> Converted:
    """The word ids of text file ``path`` under ``vocab`` as a read-only memory map,
    converted now unless the cache holds them for this very file and vocabulary
    (known by its size and modification time, or with ``verify`` by its SHA-256,
    read again: an edit that kept both times and size is found)."""
    source = Source.of(path)
    base = f"{_short(Path(source.path).name)}-{_key(source.path)}"
    folder = cache_root(cache_dir) / "ids" / vocab.checksum[:16]
    meta_path, ids_path = folder / f"{base}.json", folder / f"{base}.ids"
    meta = _read_json(meta_path)
    seconds = None
    if not (meta and meta.get("format") == FORMAT and meta.get("vocabulary") == vocab.checksum
            and _size(ids_path) == meta["tokens"] * np.dtype(meta["dtype"]).itemsize
            and source.unchanged(meta["source"], verify)):
        start = time.perf_counter()
        meta = _convert(source, vocab, ids_path, meta_path, _progress(progress))
        seconds = time.perf_counter() - start
    if meta["tokens"] == 0:
        raise CorpusError(f"{path} holds no words")
    ids = np.memmap(ids_path, dtype=np.dtype(meta["dtype"]), mode="r", shape=(meta["tokens"],))
    return Converted(ids, meta["tokens"], meta["unks"], seconds, meta["source"]["sha256"])


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _convert(source: Source, vocab: Vocabulary, ids_path: Path, meta_path: Path, progress) -> dict:
    digest = hashlib.sha256()
    tokens = unks = 0

    def write(f):
        nonlocal tokens, unks
        for text in _text_chunks(source.path, digest, progress, vocab.tokens):
            ids = vocab.ids(vocab.split(text))
            tokens += ids.size
            unks += int(np.count_nonzero(ids == vocab.unk_id))
            f.write(ids.tobytes())

    _to_cache(ids_path, write, source.path)
    meta = {"format": FORMAT, "vocabulary": vocab.checksum, "dtype": vocab.dtype.name, "tokens": tokens, "unks": unks,
            "source": vars(Source(source.path, source.size, source.mtime_ns, digest.hexdigest()))}
    _write_json(meta_path, meta)
    return meta


def load_data(train_file, data_type: str = "train", valid_file=None, test_file=None, vocab_size: int | None = None,
              min_count: int = 1, cache_dir=None, progress: bool | None = None):
    """``(corpus, word_to_id, id_to_word)`` as ``ptb.load_data`` returns them, for your
    own files: the vocabulary of ``train_file``, and the corpus of ``data_type``
    (``'train' | 'val' | 'valid' | 'test'``, the last ones read from ``valid_file``
    / ``test_file``) as a read-only memory map of ids."""
    files = {"train": train_file, "val": valid_file, "valid": valid_file, "test": test_file}
    if data_type not in files:
        raise ValueError(f"data_type must be one of {sorted(files)}, got {data_type!r}")
    if files[data_type] is None:
        raise ValueError(f"data_type {data_type!r} needs its file: pass {'valid' if data_type == 'val' else data_type}_file")
    vocab = build_vocabulary(train_file, vocab_size, min_count, cache_dir, progress)
    corpus = convert(files[data_type], vocab, cache_dir, progress).ids
    return corpus, dict(vocab.word_to_id), dict(vocab.id_to_word)


def _progress(progress: bool | None) -> bool:
    if progress is None:
        from ..trainer import on_terminal
        return on_terminal()
    return progress


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    _to_cache(path, lambda f: f.write(json.dumps(data).encode()))


def _to_cache(path: Path, write, source: str | None = None) -> None:
    """``atomic_write(path, write)`` into the cache; a failure to write there (not
    to read ``source``) raises CacheError naming the cache file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)
    except OSError as e:
        if source is not None and e.filename == source:
            raise
        raise CacheError(f"cannot write the cache file {path} ({e.strerror or e}); give another --cache-dir") from None
