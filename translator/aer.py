"""Alignment error rate (Och & Ney 2003) against NAACL-2003 gold alignments.

Gold (the NAACL 2003 shared-task format, e.g. the Hansards `*.wa.nonullalign`):
one link per line, `sentence source_pos target_pos [S|P] [confidence]`, all
1-based; a missing S/P field means S (sure). Hypotheses: Pharaoh, one line per
sentence, `i-j` links 0-based, source first (what `translator align` writes).

With S the sure and P the possible links (P includes S) and A the hypothesis,
summed over the corpus:

    precision = |A ∩ P| / |A|     recall = |A ∩ S| / |S|
    AER = 1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

from translator.errors import TranslatorError

Pair = tuple[int, int]


@dataclasses.dataclass
class Gold:
    """Per sentence (0-based index), the sure and the possible links, 0-based (source, target)."""

    sure: list[set[Pair]]
    possible: list[set[Pair]]  # includes the sure links


def _read(path: str | Path) -> list[str]:
    """Lines as the rest of the CLI reads them: split on "\n" only, one trailing "\r" dropped
    (not str.splitlines, which also splits on U+2028, form feeds, ...); strict UTF-8."""
    from training.data import read_lines

    p = Path(path)
    if p.is_dir():
        raise TranslatorError(f"{p} is a directory, not a file")
    if not p.is_file():
        raise TranslatorError(f"file not found: {p}")
    return read_lines(p)


def _sentences(n: int) -> str:
    return f"{n} sentence" if n == 1 else f"{n} sentences"


def parse_gold(
    lines: Sequence[str],
    name: str = "gold",
    n_sentences: int | None = None,
    source_lengths: Sequence[int] | None = None,
    target_lengths: Sequence[int] | None = None,
) -> Gold:
    """Parse NAACL gold lines. The sentence count is `n_sentences` (or the number of
    `source_lengths`), else the highest sentence number. With word counts, a link
    outside its sentence's words is an error naming the line and the link."""
    if n_sentences is None and source_lengths is not None:
        n_sentences = len(source_lengths)
    links: list[tuple[int, int, int, bool]] = []
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{name} line {n} ({line.strip()!r})"
        if len(fields) < 3 or len(fields) > 5:
            raise TranslatorError(f"{where}: expected 'sentence source_pos target_pos [S|P]'")
        try:
            sent, i, j = (int(x) for x in fields[:3])
        except ValueError:
            raise TranslatorError(f"{where}: sentence and positions must be integers") from None
        kind = fields[3].upper() if len(fields) > 3 else "S"
        if kind not in ("S", "P"):
            raise TranslatorError(f"{where}: the link type must be S or P, got {fields[3]!r}")
        if sent < 1 or i < 1 or j < 1:
            raise TranslatorError(f"{where}: sentence numbers and positions are 1-based")
        if n_sentences is not None and sent > n_sentences:
            raise TranslatorError(f"{where}: sentence {sent} is out of range, there are {_sentences(n_sentences)}")
        if source_lengths is not None and i > source_lengths[sent - 1]:
            raise TranslatorError(
                f"{where}: link {i}-{j} is out of range: source sentence {sent} has {source_lengths[sent - 1]} words"
            )
        if target_lengths is not None and j > target_lengths[sent - 1]:
            raise TranslatorError(
                f"{where}: link {i}-{j} is out of range: target sentence {sent} has {target_lengths[sent - 1]} words"
            )
        links.append((sent - 1, i - 1, j - 1, kind == "S"))
    count = n_sentences if n_sentences is not None else max((s + 1 for s, _, _, _ in links), default=0)
    gold = Gold([set() for _ in range(count)], [set() for _ in range(count)])
    for s, i, j, sure in links:
        if sure:
            gold.sure[s].add((i, j))
        gold.possible[s].add((i, j))
    return gold


def read_gold(
    path: str | Path,
    n_sentences: int | None = None,
    source_lengths: Sequence[int] | None = None,
    target_lengths: Sequence[int] | None = None,
) -> Gold:
    return parse_gold(_read(path), str(path), n_sentences, source_lengths, target_lengths)


def parse_pharaoh(line: str, where: str = "pharaoh") -> set[Pair]:
    """`0-1 2-3 ...` -> {(0, 1), (2, 3)}."""
    out = set()
    for item in line.split():
        parts = item.split("-")
        try:
            if len(parts) != 2:
                raise ValueError
            i, j = int(parts[0]), int(parts[1])
        except ValueError:
            raise TranslatorError(f"{where}: {item!r} is not a Pharaoh link i-j") from None
        if i < 0 or j < 0:
            raise TranslatorError(f"{where}: {item!r}: positions are 0-based and not negative")
        out.add((i, j))
    return out


def read_pharaoh(path: str | Path) -> list[set[Pair]]:
    return [parse_pharaoh(line, f"{path} line {n}") for n, line in enumerate(_read(path), 1)]


def consensus_gold(runs_per_sentence: Sequence[Sequence[Iterable[Pair]]]) -> Gold:
    """A reference made from several aligner runs, for scoring without gold links:
    per sentence, sure = the links most runs agree on, possible = the links of any run."""
    sure, possible = [], []
    for runs in runs_per_sentence:
        sets = [set(links) for links in runs]
        if not sets:
            raise TranslatorError("a consensus reference needs at least one aligner run per sentence")
        union: set[Pair] = set().union(*sets)
        sure.append({link for link in union if 2 * sum(link in s for s in sets) > len(sets)})
        possible.append(union)
    return Gold(sure=sure, possible=possible)


def score(gold: Gold, hyp: Sequence[set[Pair]]) -> dict[str, float | int]:
    """Corpus precision, recall and AER (rounded to 4 decimals) and the link counts."""
    if len(hyp) != len(gold.sure):
        raise TranslatorError(f"the gold has {_sentences(len(gold.sure))} but the hypothesis has {len(hyp)}")
    a = s = a_s = a_p = p = 0
    for sure, possible, links in zip(gold.sure, gold.possible, hyp, strict=True):
        a += len(links)
        s += len(sure)
        p += len(possible)
        a_s += len(links & sure)
        a_p += len(links & possible)
    if s == 0:
        raise TranslatorError("the gold has no sure links; AER is undefined")
    return {
        "precision": round(a_p / a, 4) if a else 0.0,
        "recall": round(a_s / s, 4),
        "aer": round(1 - (a_s + a_p) / (a + s), 4),
        "sentences": len(hyp),
        "links": a,
        "sure": s,
        "possible": p,
    }


def evaluate_files(
    gold: str | Path, hyp: str | Path, src: str | Path | None = None, tgt: str | Path | None = None
) -> dict[str, float | int]:
    """The `translator aer` command. With `src` and `tgt` (the aligned texts), links are
    checked against the sentences' whitespace-separated words and the counts must agree."""
    hyps = read_pharaoh(hyp)
    src_len = tgt_len = None
    if src is not None or tgt is not None:
        if src is None or tgt is None:
            raise TranslatorError("give both --src and --tgt, or neither")
        src_len = [len(line.split()) for line in _read(src)]
        tgt_len = [len(line.split()) for line in _read(tgt)]
        if len(src_len) != len(tgt_len):
            raise TranslatorError(f"{src} has {len(src_len)} lines but {tgt} has {len(tgt_len)}")
        if len(hyps) != len(src_len):
            raise TranslatorError(f"{hyp} has {len(hyps)} lines but {src} has {len(src_len)}")
        for n, (links, ns, nt) in enumerate(zip(hyps, src_len, tgt_len, strict=True), 1):
            for i, j in sorted(links):
                if i >= ns or j >= nt:
                    raise TranslatorError(
                        f"{hyp} line {n}: link {i}-{j} is out of range: the sentence has {ns} source "
                        f"and {nt} target words"
                    )
    g = read_gold(gold, source_lengths=src_len, target_lengths=tgt_len)
    return score(g, hyps)
