"""Misspelt words corrected before translation: BLEU with the speller on against off.

    python scripts/eval_spelling.py --model models/default --out reports/spelling

The speller (`translator/spelling.py`) replaces a lowercase word that neither the training
corpus nor the English lexicon knows with the corpus word one edit away that the corpus has
most often. Two measurements, with everything else as shipped:

- The misspellings already in val, test_2016_flickr and test_2017_flickr ("buiding",
  "demonstarting", "bullrider"): every correction, and the BLEU of the sentences it changes
  and of the whole split, off and on.
- Typos made in val: in every sentence, one lowercase word of 5 letters or more that the
  corpus knows gets one random edit (a letter deleted, inserted or replaced, two neighbours
  swapped; seeded, never making another corpus or English word). How many the speller puts
  back to the word typed, and BLEU off and on, against the clean sentences' translations
  (the ceiling).

- British spellings in val: the sentences with a word the speller maps from British to
  American spelling ("gray" -> "grey", "color" -> "colour", "center" -> "centre"), written
  the British way; BLEU off and on, against the clean sentences' translations.

The engine is torch by default, whose translations do not depend on the batch (so the
unchanged sentences need translating once).
"""

from __future__ import annotations

import random
import re
import string
from pathlib import Path

from eval_common import bleu, changed_row, changed_table, eval_parser, md_table, report_header, write_report

from training.data import read_parallel, split_paths
from translator.inference import Translator
from translator.spelling import LOWERCASE, MIN_LENGTH, Speller, is_english

SPLITS = ("val", "test_2016_flickr", "test_2017_flickr")
# American spellings (a word's start) and the British: to write val the British way
BRITISH = {
    "gray": "grey", "color": "colour", "center": "centre", "theater": "theatre", "favorite": "favourite",
    "neighborhood": "neighbourhood", "traveling": "travelling", "jewelry": "jewellery", "tire": "tyre",
    "pajama": "pyjama", "airplane": "aeroplane", "curb": "kerb", "mustache": "moustache", "harbor": "harbour",
    "practicing": "practising", "organized": "organised", "armor": "armour",
}  # fmt: skip
_AMERICAN = re.compile(r"\b(" + "|".join(BRITISH) + r")(?=(?:s|ful|ed|ing|ish)?\b)")


def typo(sentence: str, speller: Speller, rng: random.Random) -> tuple[str, str, str] | None:
    """(the sentence with one typo, the word, the typo): a corpus word of 5 letters or more,
    one random edit that makes neither a corpus word nor an English word; None if it has none."""
    words = [m for m in LOWERCASE.finditer(sentence) if len(m.group()) >= 5 and m.group() in speller.counts]
    for _ in range(20):
        if not words:
            return None
        m = rng.choice(words)
        w, i = m.group(), rng.randrange(len(m.group()) - 1)
        c = rng.choice(string.ascii_lowercase)
        edits = [w[:i] + w[i + 1 :], w[:i] + c + w[i:], w[:i] + c + w[i + 1 :], w[:i] + w[i + 1] + w[i] + w[i + 2 :]]
        t = rng.choice(edits)
        if len(t) >= MIN_LENGTH and t != w and t not in speller.counts and not is_english(t):
            return sentence[: m.start()] + t + sentence[m.end() :], w, t
    return None


def main() -> int:
    ap = eval_parser(__doc__ or "", "reports/spelling")
    ap.add_argument("--engine", default="torch", choices=["torch", "onnx"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--examples", type=int, default=10)
    args = ap.parse_args()
    tr = Translator(args.model, threads=args.threads, engine=args.engine)
    speller = tr.speller
    if speller is None:
        raise SystemExit(f"{args.model} has no word counts: python scripts/add_word_lists.py --model {args.model}")

    def translate(texts: list[str], spell: bool = True) -> list[str]:
        tr.speller = speller if spell else None
        return [r.text for r in tr.translate(texts, beam_size=args.beam)]

    splits, corrections, examples, clean = {}, [], [], {}
    for split in SPLITS:
        sources, refs = read_parallel(*split_paths(Path(args.data), split))
        on = clean[split] = translate(sources)
        fixes = {i: found for i, s in enumerate(sources) if (found := speller.corrections(s))}
        hit = list(fixes)
        off = list(on)
        for i, t in zip(hit, translate([sources[i] for i in hit], spell=False), strict=True):
            off[i] = t
        splits[split] = changed_row(off, on, refs, hit)
        for i, found in fixes.items():
            corrections += [(split, m.group(), fixed) for m, fixed in found]
            examples.append({"split": split, "source": sources[i], "off": off[i], "on": on[i], "reference": refs[i]})

    rng = random.Random(args.seed)
    sources, refs = read_parallel(*split_paths(Path(args.data), "val"))
    made = [(k, t) for k, s in enumerate(sources) if (t := typo(s, speller, rng))]
    typed = [t[0] for _, t in made]
    off, on = translate(typed, spell=False), translate(typed)
    chosen = [k for k, _ in made]
    back = sum(speller.word(t) == w for _, (_, w, t) in made)
    injected = {
        "sentences": len(made),
        "put back": back,
        "bleu_off": bleu(off, [refs[k] for k in chosen]),
        "bleu_on": bleu(on, [refs[k] for k in chosen]),
        "bleu_ceiling": bleu([clean["val"][k] for k in chosen], [refs[k] for k in chosen]),
    }
    british = [(k, b) for k, s in enumerate(sources) if (b := _AMERICAN.sub(lambda m: BRITISH[m.group(1)], s)) != s]
    b_off, b_on = translate([b for _, b in british], spell=False), translate([b for _, b in british])
    b_refs = [refs[k] for k, _ in british]
    uk = {
        "sentences": len(british),
        "bleu_off": bleu(b_off, b_refs),
        "bleu_on": bleu(b_on, b_refs),
        "bleu_ceiling": bleu([clean["val"][k] for k, _ in british], b_refs),
    }
    typo_examples = [[t[0], f"{t[1]} → {t[2]}", a, b] for (_, t), a, b in list(zip(made, off, on, strict=True))[:8]]
    report = {
        **report_header(args, tr),
        "beam": args.beam,
        "splits": splits,
        "corrections": [list(c) for c in corrections],
        "examples": examples,
        "typos in val": injected,
        "british spellings in val": uk,
    }
    md = [
        "# Spelling: misspelt words corrected before translation, on against off",
        "",
        f"`{report['command']}`",
        "",
        f"Model `{args.model}`, engine {report['engine']}, beam {args.beam}; sacreBLEU defaults. 'Changed': "
        "sentences with a word the speller corrects; 'those': BLEU of those sentences alone.",
        "",
        *changed_table(splits),
        "",
        "Every correction: " + ", ".join(f"{w} → {f} ({s})" for s, w, f in corrections) + ".",
        "",
        *md_table(["split", "source", "off", "on", "reference"], (e.values() for e in examples[: args.examples])),
        "",
        "## Typos made in val",
        "",
        f"{injected['sentences']} val sentences with one typo each (seed {args.seed}); 'put back': typos the "
        "speller corrects to the word that was typed; the ceiling: the clean sentences translated.",
        "",
        *md_table(
            ["sentences", "put back", "BLEU off", "BLEU on", "BLEU ceiling"],
            [injected.values()],
        ),
        "",
        *md_table(["source", "typo", "off", "on"], typo_examples),
        "",
        "## British spellings in val",
        "",
        f"The {uk['sentences']} val sentences with a word of which the speller knows the British spelling, "
        "written the British way ('A grey dog', 'a colourful shirt'); the ceiling: as they are, translated.",
        "",
        *md_table(["sentences", "BLEU off", "BLEU on", "BLEU ceiling"], [uk.values()]),
        "",
        *md_table(
            ["source", "off", "on"],
            [[b, x, y] for (_, b), x, y in list(zip(british, b_off, b_on, strict=True))[: args.examples]],
        ),
    ]
    write_report(args.out, report, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
