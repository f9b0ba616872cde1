"""What copying spans through (`translator.verbatim`) does to translations: on and off, side by side.

    python scripts/eval_verbatim.py --model models/default [--data data/multi30k] [--beam 5] [--out reports/verbatim]

Three measurements, each with `Translator(verbatim=True)` and `verbatim=False` on
the same engine in the same run:

1. Real spans: the val and test sentences in which `find_spans` finds something
   (numbers of two digits or more, in practice). sacreBLEU on those sentences, and
   how many of the spans that the reference contains as such come out in the
   translation.
2. Injected spans: every val sentence gets one span of a kind (an emoji, a URL, a
   number, a word in a script the vocabulary cannot spell, a hashtag, quoted text with
   capitals) inserted at a random
   word boundary (seeded). Reported: the share of translations that contain the
   span exactly once, and sacreBLEU against the val reference of the translation
   with the span taken out (how much of the rest of the sentence survives). The
   clean val BLEU is the ceiling.
3. Capitals: the val sources in capitals; sacreBLEU against the references in capitals.
4. Title Case: every word of the val sources capitalised; sacreBLEU against the references.
5. Questions and exclamations: the val pairs whose source and reference end with ".",
   with "?" (then "!", then "...") instead, French-spaced in the reference ("... court ?").
   Reported: the share of translations that end with the mark, and sacreBLEU.
6. Frames: every val pair with a list marker ("- ", "1. ") or quotes or brackets around the
   sentence, the same frame on the reference. Reported: the share of translations that
   keep the frame exactly (start with its head, end with its tail), and sacreBLEU.
7. Brackets and quotes inside a sentence: val sentences with a phrase put in brackets (then
   quotes), the one that ends the sentence ("A man is riding a bike (in the park).") or the
   one after the subject ("A man (in a blue shirt) is riding a bike."). Reported: the share of
   translations with the marks around some words, and sacreBLEU of the translations without
   them against the reference (how much of the sentence survives).
8. Markup: val sentences with a phrase in "<b>...</b>" (as in 7), in "<p>...</p>", or with
   "&amp;" for their first "and". Reported: the share of translations with the tags around
   some words (no "&" left, for the entity), and sacreBLEU of the translations without tags.
9. Cost: seconds to translate test_2016_flickr with and without, alternating, medians.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from eval_common import bleu, eval_parser, md_table, report_header, write_report

from training.data import read_parallel, split_paths
from translator.inference import Translator
from translator.verbatim import find_spans

SPLITS = ("val", "test_2016_flickr", "test_2017_flickr")
KINDS = {
    "emoji": ["🙂", "🎉", "👍", "🚲", "🐶"],
    "url": ["https://example.com/photo/123", "www.flickr.com/p/x7"],
    "number": ["1102", "2019", "$4,500", "3:45", "555-1234"],
    "script": ["Łódź", "東京", "Ñandú", "Αθήνα"],
    "hashtag": ["#NewYork", "@jo_doe", "#fun", "#Paris2024"],
    "quoted": ['"Big Jim"', '"OPEN"', '"Route 66"', '"Café Paris"', "“No Parking”"],
    "time": ["at 3:30pm", "at 7 AM", "until 10:15 PM", "from 9am to 5pm"],
}
# what a span becomes in the translation, where it is not copied as it is
EXPECTED = {"at 3:30pm": "à 15 h 30", "at 7 AM": "à 7 h", "until 10:15 PM": "jusqu'à 22 h 15",
            "from 9am to 5pm": "de 9 h à 17 h"}  # fmt: skip


# (head, tail) put around every val pair: a quotation, brackets, a bullet and a numbered list item
FRAMES = [('"', '"'), ("« ", " »"), ("(", ")"), ("- ", ""), ("1. ", "")]


# a phrase to put in brackets: (before)(phrase)(after), the first match only
BRACKETS = {
    "the last, ending the sentence": re.compile(r"^(.+ )((?:in|on|at|near|under|with|behind) [^,()]+?)(\.?)$"),
    "after the subject": re.compile(r"^((?:A|An|The|Two|Three) \w+ )((?:in|with|wearing) [^,()]+?)( (?:is|are) .+)$"),
}
# brackets, quotes around some words
HELD = {("(", ")"): re.compile(r"\(\s*\w[^()]*\)"), ('"', '"'): re.compile(r'"\s*\w[^"]*"')}


def without(text: str, span: str) -> str:
    """`text` with `span` taken out, and the space it leaves."""
    return " ".join(text.replace(span, " ").split()).replace(" .", ".").replace(" ,", ",")


TAGGED = re.compile(r"<(b|p)>(?=\s*\w)[^<>]*\w[^<>]*</\1>")  # tags around some words
MARKS = re.compile(r'</?\w+>|[()"]')  # what `marked_row` takes out of a translation before scoring it

Translate = Callable[[list[str], bool], list[str]]


def marked_row(
    what: str, pairs: list[tuple[str, str]], kept: Callable[[str], bool], translate: Translate
) -> dict[str, object]:
    """Translations of the marked sources of `pairs` (source, reference), off and on: the share
    that keeps its marks (`kept`: brackets, quotes or tags around some words; no "&" left for
    an entity), and sacreBLEU of the translations without marks (`MARKS`) against the references."""
    row: dict[str, object] = {"what": what, "sentences": len(pairs), "example": pairs[0][0]}
    for verbatim in (False, True):
        hyps = translate([s for s, _ in pairs], verbatim)
        label = "on" if verbatim else "off"
        row[f"kept {label}"] = round(sum(map(kept, hyps)) / len(hyps), 3)
        plain = [" ".join(MARKS.sub(" ", h).split()).replace(" .", ".").replace(" ,", ",") for h in hyps]
        row[f"BLEU {label}"] = bleu(plain, [r for _, r in pairs])
        row[f"translation {label}"] = hyps[0]
    return row


def marked_table(what: str, kept: str, rows: list[dict[str, object]]) -> list[str]:
    """The Markdown table of `marked_row` rows."""
    keys = ["what", "sentences", "example", "kept off", "kept on", "BLEU off", "BLEU on"]
    header = [what, "sentences", "example", kept, "on", "BLEU off", "on"]
    return md_table(header, ([row[k] for k in keys] for row in rows))


def inject(sentence: str, span: str, rng: random.Random) -> str:
    words = sentence.split()
    at = rng.randint(1, len(words))
    if at == len(words) and words[-1][-1:] in ".!?":  # before the final punctuation
        return " ".join([*words[:-1], words[-1][:-1], span]) + words[-1][-1]
    return " ".join([*words[:at], span, *words[at:]])


def main() -> None:
    ap = eval_parser(__doc__, "reports/verbatim")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5, help="timed passes of each mode (default 5)")
    args = ap.parse_args()
    data = Path(args.data)
    tr = Translator(args.model, threads=args.threads)
    unknown = tr.tokenizer.unknown

    def translate(texts: list[str], verbatim: bool) -> list[str]:
        tr.verbatim = verbatim
        return [r.text for r in tr.translate(texts, beam_size=args.beam)]

    # 1. real spans
    src, ref = [], []
    for split in SPLITS:
        s, r = read_parallel(*split_paths(data, split))
        keep = [i for i, x in enumerate(s) if find_spans(x, unknown)]
        src += [s[i] for i in keep]
        ref += [r[i] for i in keep]
    spans = [[s[a:b] for a, b in find_spans(s, unknown)] for s in src]
    real: dict[str, object] = {"sentences": len(src), "spans": sum(map(len, spans))}
    in_ref = [(k, x) for k, xs in enumerate(spans) for x in xs if x in ref[k]]
    real["spans in the reference"] = len(in_ref)
    for verbatim in (False, True):
        hyps = translate(src, verbatim)
        label = "on" if verbatim else "off"
        real[f"BLEU {label}"] = bleu(hyps, ref)
        real[f"kept {label}"] = sum(x in hyps[k] for k, x in in_ref)
        real[f"examples {label}"] = hyps[:3]
    # 2. injected spans
    val_src, val_ref = read_parallel(*split_paths(data, "val"))
    clean = bleu(translate(val_src, True), val_ref)
    injected = []
    for kind, choices in KINDS.items():
        rng = random.Random(f"{args.seed}-{kind}")
        chosen = [rng.choice(choices) for _ in val_src]
        noisy = [inject(s, x, rng) for s, x in zip(val_src, chosen, strict=True)]
        row: dict[str, object] = {"kind": kind, "example": noisy[0]}
        for verbatim in (False, True):
            hyps = translate(noisy, verbatim)
            label = "on" if verbatim else "off"
            expected = [EXPECTED.get(x, x) for x in chosen]
            once = sum(h.count(x) == 1 for h, x in zip(hyps, expected, strict=True))
            row[f"exactly once {label}"] = round(once / len(hyps), 3)
            rest = [without(h, x) for h, x in zip(hyps, expected, strict=True)]
            row[f"BLEU rest {label}"] = bleu(rest, val_ref)
            row[f"translation {label}"] = hyps[0]
        injected.append(row)
    # 3. capitals, 4. Title Case
    caps: dict[str, object] = {}
    title: dict[str, object] = {}
    titled = [" ".join(w[:1].upper() + w[1:] for w in s.split(" ")) for s in val_src]
    for verbatim in (False, True):
        hyps = translate([s.upper() for s in val_src], verbatim)
        caps[f"BLEU {'on' if verbatim else 'off'}"] = bleu(hyps, [r.upper() for r in val_ref])
        title[f"BLEU {'on' if verbatim else 'off'}"] = bleu(translate(titled, verbatim), val_ref)
    # 5. questions and exclamations
    closed = [(s, r) for s, r in zip(val_src, val_ref, strict=True) if s.endswith(".") and r.endswith(".")]
    marks: list[dict[str, object]] = []
    for mark in ("?", "!", "..."):
        asked = [s[:-1] + mark for s, _ in closed]
        space = " " if mark in "?!" else ""  # French spacing: "court ?", "court..."
        marked = [r[:-1].rstrip() + space + mark for _, r in closed]
        row = {"mark": mark, "sentences": len(closed), "example": asked[0]}
        for verbatim in (False, True):
            hyps = translate(asked, verbatim)
            label = "on" if verbatim else "off"
            row[f"ends with it {label}"] = round(sum(h.endswith(mark) for h in hyps) / len(hyps), 3)
            row[f"BLEU {label}"] = bleu(hyps, marked)
            row[f"translation {label}"] = hyps[0]
        marks.append(row)
    # 6. frames
    frames: list[dict[str, object]] = []
    for head, tail in FRAMES:
        row = {"frame": f"{head}...{tail}", "example": head + val_src[0] + tail}
        for verbatim in (False, True):
            hyps = translate([head + s + tail for s in val_src], verbatim)
            label = "on" if verbatim else "off"
            kept = sum(h.startswith(head) and h.endswith(tail) for h in hyps)
            row[f"kept {label}"] = round(kept / len(hyps), 3)
            row[f"BLEU {label}"] = bleu(hyps, [head + r + tail for r in val_ref])
            row[f"translation {label}"] = hyps[0]
        frames.append(row)
    # 7. brackets and quotes inside a sentence
    val_pairs = list(zip(val_src, val_ref, strict=True))
    bracketed: list[dict[str, object]] = []
    for (opening, closing), held in HELD.items():
        for where, pattern in BRACKETS.items():
            marked = [(pattern.sub(rf"\1{opening}\2{closing}\3", s, count=1), r) for s, r in val_pairs]
            marked = [(s, r) for s, r in marked if opening in s]
            row = marked_row(f"{opening}...{closing}: {where}", marked, lambda h, m=held: bool(m.search(h)), translate)
            bracketed.append(row)
    # 8. markup: a tag pair around a phrase, tags around the sentence, an entity for "and"
    markup: list[dict[str, object]] = []
    tagged = lambda h: bool(TAGGED.search(h))  # noqa: E731
    for where, pattern in BRACKETS.items():
        pairs = [(pattern.sub(r"\1<b>\2</b>\3", s, count=1), r) for s, r in val_pairs]
        markup.append(
            marked_row(f"<b> around a phrase: {where}", [p for p in pairs if "<b>" in p[0]], tagged, translate)
        )
    wrapped = [(f"<p>{s}</p>", r) for s, r in val_pairs]
    markup.append(marked_row("<p> around the sentence", wrapped, tagged, translate))
    anded = [(s.replace(" and ", " &amp; ", 1), r) for s, r in val_pairs if " and " in s]
    markup.append(marked_row('"&amp;" for the first "and"', anded, lambda h: "&" not in h, translate))
    # 9. cost: test_2016_flickr, on and off alternating, medians
    test_src, _ = read_parallel(*split_paths(data, "test_2016_flickr"))
    seconds: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.repeats):
        for verbatim in (r % 2 == 0, r % 2 == 1):
            t0 = time.perf_counter()
            translate(test_src, verbatim)
            seconds[verbatim].append(time.perf_counter() - t0)
    cost = {
        "sentences": len(test_src),
        "repeats": args.repeats,
        "seconds off": round(statistics.median(seconds[False]), 2),
        "seconds on": round(statistics.median(seconds[True]), 2),
    }
    cost["on / off"] = round(cost["seconds on"] / cost["seconds off"], 3)
    report = {
        **report_header(args, tr),
        "beam": args.beam,
        "real spans": real,
        "clean val BLEU": clean,
        "injected": injected,
        "capitals": caps,
        "title case": title,
        "questions and exclamations": marks,
        "frames": frames,
        "brackets": bracketed,
        "markup": markup,
        "cost": cost,
    }
    md = [
        "# Copying spans through (`translator.verbatim`): on and off",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{args.model}`, engine {report['engine']}, beam {args.beam}; the same engine with "
        "`Translator(verbatim=True)` (on, the default) and `verbatim=False` (off) in one run.",
        "",
        "## Real spans in val and the test sets",
        "",
        f"{real['sentences']} sentences have a span ({real['spans']} spans, {real['spans in the reference']} of "
        "them written the same way in the reference).",
        "",
        "| | off | on |",
        "|---|---|---|",
        f"| BLEU on these sentences | {real['BLEU off']} | {real['BLEU on']} |",
        f"| reference spans kept | {real['kept off']} | {real['kept on']} |",
        "",
        f"## One span injected into every val sentence (clean val BLEU: {clean})",
        "",
        "| kind | example | span exactly once, off | on | BLEU of the rest, off | on |",
        "|---|---|---|---|---|---|",
    ]
    for row in injected:
        md.append(
            f"| {row['kind']} | {row['example']} | {row['exactly once off']} | {row['exactly once on']} "
            f"| {row['BLEU rest off']} | {row['BLEU rest on']} |"
        )
    md += [
        "",
        "## Capitals",
        "",
        "| val in capitals | off | on |",
        "|---|---|---|",
        f"| BLEU (references in capitals) | {caps['BLEU off']} | {caps['BLEU on']} |",
        "",
        "## Title Case",
        "",
        '| val in Title Case ("A Man In A Red Shirt") | off | on |',
        "|---|---|---|",
        f"| BLEU (the references as they are) | {title['BLEU off']} | {title['BLEU on']} |",
        "",
        "## Questions and exclamations",
        "",
        f'The {marks[0]["sentences"]} val pairs whose source and reference end with ".", ending with '
        '"?", "!" or "..." instead (French-spaced in the reference).',
        "",
        "| mark | example | ends with the mark, off | on | BLEU off | on |",
        "|---|---|---|---|---|---|",
        *[
            f"| {m['mark']} | {m['example']} | {m['ends with it off']} | {m['ends with it on']} "
            f"| {m['BLEU off']} | {m['BLEU on']} |"
            for m in marks
        ],
        "",
        "## Frames: list markers, quotes and brackets around the sentence",
        "",
        "Every val pair, the same frame around the source and the reference.",
        "",
        "| frame | example | frame kept, off | on | BLEU off | on |",
        "|---|---|---|---|---|---|",
        *[
            f"| `{f['frame']}` | {f['example']} | {f['kept off']} | {f['kept on']} | {f['BLEU off']} | {f['BLEU on']} |"
            for f in frames
        ],
        "",
        "## Brackets and quotes inside a sentence",
        "",
        "Val sentences with a phrase put in brackets or quotes; BLEU of the translations with the marks taken out, "
        "against the references.",
        "",
        *marked_table("phrase in", "marks around words, off", bracketed),
        "",
        "## Markup",
        "",
        "Val sentences with tags or an entity; the share of translations with the tags around some words (for "
        "the entity: with no '&' left), and BLEU of the translations without tags, against the references.",
        "",
        *marked_table("markup", "kept, off", [{**m, "example": f"`{m['example']}`"} for m in markup]),
        "",
        "## Cost",
        "",
        f"Translating test_2016_flickr ({cost['sentences']} sentences, beam {args.beam}), on and off alternating, "
        f"median of {cost['repeats']}: off {cost['seconds off']} s, on {cost['seconds on']} s, "
        f"on/off {cost['on / off']}.",
    ]
    write_report(args.out, report, md)


if __name__ == "__main__":
    main()
