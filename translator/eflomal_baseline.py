"""Statistical word alignments with eflomal: the baseline for the attention alignments,
and the alignments of the training data for guided-alignment training.

eflomal (Östling & Tiedemann 2016, `pip install 'translator[align]'`) is a Bayesian
HMM + fertility aligner fitted by Gibbs sampling on the very sentences it aligns,
so a small set of pairs is aligned together with a larger training corpus and only
the links of the requested pairs are kept. It is run in both directions, `fwd`
(each target word to at most one source word) and `rev` (each source word to at
most one target word), and the two are symmetrised with grow-diag-final-and
(`translator.links.grow_diag_final_and`). eflomal lowercases every token itself and
seeds its sampler from the system clock, so two runs can differ slightly.

    from translator.eflomal_baseline import align_pairs
    links = align_pairs([("the dog runs", "le chien court")], corpus=(en_lines, fr_lines))
    # [[(0, 0), (1, 1), (2, 2)]]

`translator align-baseline --src FILE --tgt FILE [--corpus-src FILE --corpus-tgt FILE]`
writes Pharaoh lines for `translator aer`. The pairs are taken as they are
(whitespace-separated words); the corpus (e.g. Multi30k: cased, detokenized) is
lowercased and tokenized (`tokenize`: punctuation split from words, hyphens
split, French elisions such as "l'" kept with their apostrophe, English clitics
such as "'s" split off), and with `expand_contractions` its French side follows
the Hansards convention of the NAACL-2003 data (du -> de le, des -> de les,
au -> à le, aux -> à les, l' -> le, d' -> de, n' -> ne, qu' -> que, ...).

The training-data alignments: `translator align-corpus --data DIR`
------------------------------------------------------------------
Runs eflomal over the training split `DIR/train.en.gz` + `DIR/train.fr.gz`
(`training.data.split_paths(DIR, "train")`) and writes `DIR/train.align`
(atomically; gzip-compressed if `--out` ends in `.gz`). Format:

- plain UTF-8 (ASCII) text, exactly one line per line of `train.en.gz` /
  `train.fr.gz`, in the same order (line k aligns line k), no header;
- each line is the space-separated, sorted Pharaoh links `i-j` of that pair:
  `i` is the 0-based index of an English word and `j` of a French word, where the
  words are `line.split()` of the RAW line (whitespace words, not re-tokenized,
  so punctuation attached to a word is part of that word, exactly as
  `translator.align` counts words); links are grow-diag-final-and of the two
  eflomal directions, so a word can have several links or none;
- an empty line means no links (e.g. an empty side, or a side longer than
  1023 words, which eflomal does not align).

`read_alignments(path)` reads the file back (list of (i, j) lists, one per line).
"""

from __future__ import annotations

import gzip
import logging
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from translator.errors import TranslatorError
from translator.links import format_pharaoh, grow_diag_final_and

logger = logging.getLogger(__name__)

Links = list[tuple[int, int]]
MAX_WORDS = 1023  # eflomal writes longer sentences as empty (no links)
GUIDE_RUNS = 9  # eflomal runs behind a guide: their majority vote (see majority_guide)

_TOKEN = {
    # English: clitics start a token ("man's" -> man 's, "don't" -> don 't)
    "en": re.compile(r"'\w+|\w+|[^\w\s]"),
    # French: elisions end a token ("l'homme" -> l' homme, "aujourd'hui" -> aujourd' hui)
    "fr": re.compile(r"\w+'|\w+|[^\w\s]"),
}
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})
_FRENCH_CONTRACTIONS = {
    "du": ("de", "le"),
    "des": ("de", "les"),
    "au": ("à", "le"),
    "aux": ("à", "les"),
    "l'": ("le",),
    "d'": ("de",),
    "n'": ("ne",),
    "j'": ("je",),
    "m'": ("me",),
    "t'": ("te",),
    "s'": ("se",),
    "c'": ("ce",),
    "qu'": ("que",),
    "jusqu'": ("jusque",),
    "lorsqu'": ("lorsque",),
    "puisqu'": ("puisque",),
    "quoiqu'": ("quoique",),
}


# --- corpus preparation ---------------------------------------------------------------
def tokenize(text: str, lang: str = "en", expand_contractions: bool = False) -> list[str]:
    """Lowercased tokens of raw text: words, punctuation marks and hyphens apart.

    `lang` "en" splits clitics off to the right ("'s"), "fr" keeps elisions with the
    word before the apostrophe ("l'"). `expand_contractions` (French only) rewrites
    contractions as the Hansards data does (du -> de le, l' -> le, ...).
    """
    if lang not in _TOKEN:
        raise TranslatorError(f"tokenize: unknown language {lang!r} (en or fr)")
    tokens = _TOKEN[lang].findall(text.translate(_APOSTROPHES).lower())
    if expand_contractions and lang == "fr":
        tokens = [t for token in tokens for t in _FRENCH_CONTRACTIONS.get(token, (token,))]
    return tokens


def prepare_corpus(
    sources: Sequence[str], targets: Sequence[str], expand_contractions: bool = False
) -> tuple[list[str], list[str]]:
    """Tokenize a raw (en, fr) corpus; pairs with an empty or over-long side are dropped."""
    if len(sources) != len(targets):
        raise TranslatorError(f"the corpus has {len(sources)} source lines but {len(targets)} target lines")
    src_out, tgt_out = [], []
    for s, t in zip(sources, targets, strict=True):
        sw, tw = tokenize(s, "en"), tokenize(t, "fr", expand_contractions)
        if sw and tw and len(sw) <= MAX_WORDS and len(tw) <= MAX_WORDS:
            src_out.append(" ".join(sw))
            tgt_out.append(" ".join(tw))
    return src_out, tgt_out


# --- eflomal ------------------------------------------------------------------------------
def _import_eflomal() -> Any:
    try:
        import eflomal
    except ImportError:
        raise TranslatorError("eflomal is not installed: pip install 'translator[align]'") from None
    return eflomal


def parse_pharaoh(line: str, where: str = "") -> Links:
    """`i-j i-j ...` -> [(i, j), ...]."""
    out = []
    for item in line.split():
        i, sep, j = item.partition("-")
        if not sep or not i.isdigit() or not j.isdigit():
            raise TranslatorError(f"{where or 'alignment'}: not a Pharaoh link: {item!r}")
        out.append((int(i), int(j)))
    return out


def eflomal_links(
    sources: Sequence[str],
    targets: Sequence[str],
    *,
    model: int = 3,
    n_samplers: int = 3,
    rel_iterations: float = 1.0,
    null_prior: float = 0.2,
) -> tuple[list[Links], list[Links]]:
    """Run eflomal on line-aligned whitespace-tokenized texts; returns (fwd, rev) links per line.

    fwd links each target word to at most one source word, rev each source word to at
    most one target word; both are (source, target). Empty lines give no links.
    """
    if len(sources) != len(targets):
        raise TranslatorError(f"got {len(sources)} source lines but {len(targets)} target lines")
    if not sources:
        return [], []
    eflomal = _import_eflomal()
    too_long = sum(max(len(s.split()), len(t.split())) > MAX_WORDS for s, t in zip(sources, targets, strict=True))
    if too_long:
        logger.warning("%d pairs have a side over %d words; eflomal leaves them unaligned", too_long, MAX_WORDS)
    aligner = eflomal.Aligner(model=model, n_samplers=n_samplers, rel_iterations=rel_iterations,
                              null_prior=null_prior)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="eflomal-") as tmp:
        fwd_path, rev_path = Path(tmp) / "fwd", Path(tmp) / "rev"
        try:
            aligner.align(list(sources), list(targets), links_filename_fwd=str(fwd_path),
                          links_filename_rev=str(rev_path), quiet=True)  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise TranslatorError(f"eflomal failed with exit code {exc.returncode}") from None
        fwd_lines = fwd_path.read_text(encoding="utf-8").splitlines()
        rev_lines = rev_path.read_text(encoding="utf-8").splitlines()
    if len(fwd_lines) != len(sources) or len(rev_lines) != len(sources):
        raise TranslatorError(f"eflomal wrote {len(fwd_lines)}/{len(rev_lines)} lines for {len(sources)} pairs")
    fwd = [parse_pharaoh(line, "eflomal output") for line in fwd_lines]
    rev = [parse_pharaoh(line, "eflomal output") for line in rev_lines]
    return fwd, rev


def symmetrize(fwd: Sequence[Links], rev: Sequence[Links]) -> list[Links]:
    """grow-diag-final-and of the two directions, per line, sorted."""
    return [sorted(grow_diag_final_and(set(f), set(r))) for f, r in zip(fwd, rev, strict=True)]


def align_pairs(
    pairs: Sequence[tuple[str, str]],
    corpus: tuple[Sequence[str], Sequence[str]] | None = None,
    **eflomal_options: Any,
) -> list[Links]:
    """Align whitespace-tokenized (source, target) pairs, with an optional extra corpus.

    The corpus (already tokenized: see `prepare_corpus`) is aligned together with the
    pairs and its links are discarded. Returns, per pair, its (source word, target
    word) links, 0-based, sorted. Pairs are numbered from 1 in errors.
    """
    for n, (s, t) in enumerate(pairs, 1):
        for side, text in (("source", s), ("target", t)):
            words = text.split()
            if not words:
                raise TranslatorError(f"pair {n}: the {side} is empty")
            if len(words) > MAX_WORDS:
                raise TranslatorError(f"pair {n}: the {side} has {len(words)} words, over eflomal's {MAX_WORDS}")
    if not pairs:
        return []
    corpus_src, corpus_tgt = corpus if corpus is not None else ([], [])
    if len(corpus_src) != len(corpus_tgt):
        raise TranslatorError(f"the corpus has {len(corpus_src)} source lines but {len(corpus_tgt)} target lines")
    sources = [*corpus_src, *(s for s, _ in pairs)]
    targets = [*corpus_tgt, *(t for _, t in pairs)]
    fwd, rev = eflomal_links(sources, targets, **eflomal_options)
    n = len(pairs)
    return symmetrize(fwd[-n:], rev[-n:])


def _read(path: str | Path, what: str) -> list[str]:
    from training.data import read_lines

    p = Path(path)
    if not p.is_file():
        raise TranslatorError(f"{what}: file not found: {p}")
    return read_lines(p)


def align_files(
    src: str | Path,
    tgt: str | Path,
    corpus_src: str | Path | None = None,
    corpus_tgt: str | Path | None = None,
    *,
    expand_contractions: bool = False,
) -> list[str]:
    """`translator align-baseline`: Pharaoh lines for the pairs of two line-aligned files."""
    if (corpus_src is None) != (corpus_tgt is None):
        raise TranslatorError("--corpus-src and --corpus-tgt go together")
    src_lines, tgt_lines = _read(src, "--src"), _read(tgt, "--tgt")
    if len(src_lines) != len(tgt_lines):
        raise TranslatorError(f"{src} has {len(src_lines)} lines but {tgt} has {len(tgt_lines)}")
    corpus = None
    if corpus_src is not None and corpus_tgt is not None:
        corpus = load_corpus(corpus_src, corpus_tgt, expand_contractions)
    links = align_pairs(list(zip(src_lines, tgt_lines, strict=True)), corpus)
    return [format_pharaoh(x) for x in links]


def load_corpus(
    corpus_src: str | Path, corpus_tgt: str | Path, expand_contractions: bool = False
) -> tuple[list[str], list[str]]:
    """A raw line-aligned corpus (e.g. `train.en.gz`, `train.fr.gz`), tokenized by `prepare_corpus`."""
    raw_src, raw_tgt = _read(corpus_src, "--corpus-src"), _read(corpus_tgt, "--corpus-tgt")
    if len(raw_src) != len(raw_tgt):
        raise TranslatorError(f"{corpus_src} has {len(raw_src)} lines but {corpus_tgt} has {len(raw_tgt)}")
    corpus = prepare_corpus(raw_src, raw_tgt, expand_contractions)
    logger.info("corpus: %d of %d pairs kept", len(corpus[0]), len(raw_src))
    return corpus


def guide_links(
    pairs: Sequence[tuple[str, str]], corpus: tuple[Sequence[str], Sequence[str]] | None, runs: int = GUIDE_RUNS
) -> list[list[Links]]:
    """Per pair, the links of `runs` independent eflomal runs (its sampler is
    randomised): the teacher for guided adaptation (`translator.adapt`), exactly what
    `translator align-baseline` would output, `runs` times."""
    if runs < 1:
        raise TranslatorError(f"guide runs must be >= 1, got {runs}")
    per_run = [align_pairs(pairs, corpus) for _ in range(runs)]
    return [list(links) for links in zip(*per_run, strict=True)]


def majority_guide(runs: Sequence[Sequence[Links]]) -> list[list[Links]]:
    """Per pair, one link set: the links most of the aligner runs agree on (their
    majority vote, `translator.aer.consensus_gold`'s sure links). The guide of guided
    adaptation: an ensemble of eflomal runs aligns better than any one run
    (`reports/guided_alignment.md`), and the model learns its consensus."""
    from translator.aer import consensus_gold

    return [[sorted(links)] for links in consensus_gold(runs).sure]


# --- training data ----------------------------------------------------------------------
def align_corpus(data_dir: Path, out: Path | None = None) -> dict[str, Any]:
    """`translator align-corpus`: eflomal links of the training split, one line per pair
    (format in the module docstring), written atomically to `out` (default DIR/train.align)."""
    from training.data import read_parallel, split_paths
    from translator.bundle import atomic_write_bytes

    src_path, tgt_path = split_paths(data_dir, "train")
    for p in (src_path, tgt_path):
        if not p.is_file():
            raise TranslatorError(f"{p} not found (translator data writes the training split)")
    started = time.perf_counter()
    src, tgt = read_parallel(src_path, tgt_path)
    fwd, rev = eflomal_links(src, tgt)
    links = symmetrize(fwd, rev)
    target = out if out is not None else data_dir / "train.align"
    data = "".join(format_pharaoh(x) + "\n" for x in links).encode("utf-8")
    if target.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    return {
        "out": str(target),
        "sentences": len(links),
        "links": sum(map(len, links)),
        "unaligned_sentences": sum(not x for x in links),
        "seconds": round(time.perf_counter() - started, 1),
    }


def read_alignments(path: str | Path) -> list[Links]:
    """Read a Pharaoh file (such as `train.align`, plain or .gz): per line, its (i, j) links."""
    lines = _read(path, "alignments")
    return [parse_pharaoh(line, f"{path} line {n}") for n, line in enumerate(lines, 1)]
