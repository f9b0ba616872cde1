"""Negated sentences: translated affirmative and negated at the aligned verb, against as they are.

    python scripts/eval_negation.py --model models/default --out reports/negation

Multi30k has hardly any negation (val and test_2016: 4 sentences with "not", "no" or
"never"; test_2017: none), so negated sentences are made from val captions: "A man is
riding a bike." -> "A man is not riding a bike." (and "... isn't riding ..."), "A woman
sits at a bar." -> "A woman does not sit at a bar." (and "doesn't"), "There is a dog ..."
-> "There is no dog ...", "A man wearing a hat ..." -> "A man not wearing a hat ...", "A man
is sitting on a bench." -> "No one is sitting on a bench." (its reference keeps the man); and
"A man is not riding a bike at 3:30pm." and "A dog is not running at 3:30pm through the
grass." (with a span, `translator.verbatim`, the time taken
out of the outputs before scoring).
Each is translated with the rule (on, the default) and
without it (off: the model sees the negated sentence as it is). Counted: the outputs
that negate in French, "ne" (or "n'") before a verb and "pas" or "jamais" after it
(`NEGATED`). Scored: the content, each output against the caption's reference, both
without the negation words ("ne", "n'", "pas", "jamais") and the indefinite articles,
which negating turns into "de" ("ne porte pas de chapeau" against "porte un chapeau");
the captions translated as they are (affirmative) are the ceiling.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import sacrebleu
from eval_common import eval_parser, md_table, off_and_on, report_header, write_report
from lemminflect import getInflection, getLemma

from translator.inference import Translator
from translator.negation import ING_NOUNS

# "ne" or "n'", at most one clitic pronoun, one word (the verb), then "pas" or "jamais"
NEGATED = re.compile(r"\b(?:ne\s+|n['’])(?:(?:se|s'|y|en|lui|leur)\s+)?\S+\s+(?:pas|jamais)\b", re.IGNORECASE)
# "No one is ..." negated in French: "Personne ne ..." / "Personne n'..."
NEGATED_BY = {"no one": re.compile(r"^Personne (?:ne\s|n['’])")}
# what negating changes: the negation itself, and an indefinite article after the verb ("pas de chapeau")
_CHANGED = re.compile(r"\b(?:ne|pas|jamais|une?|des|du|de)\b\s*|\b[nd]['’](?=\S)", re.IGNORECASE)
_DETERMINERS = {"A", "An", "The", "One"}
TIME, TIME_FR = "at 3:30pm", "à 15 h 30"  # a span, and what it becomes in the translation
# words after which an "-ing" word does not describe a noun ("is running", "a building", "while holding")
_NOT_NOUNS = {"is", "are", "was", "were", "be", "been", "a", "an", "the", "and", "while", "of", "for", "by"}
_FOLLOWING = {
    "a", "an", "the", "on", "in", "at", "with", "down", "up", "through", "into", "over", "his", "her", "their",
    "to", "across", "along", "around", "its",
}  # fmt: skip
_PREPOSITIONS = _FOLLOWING - {"a", "an", "the", "his", "her", "their", "its"}


def be_negated(caption: str, contracted: bool = False) -> str | None:
    """ "A man is riding a bike." -> "A man is not riding a bike." ("isn't")."""
    words = caption.split()
    k = next((k for k in range(1, min(len(words) - 1, 6)) if words[k] in ("is", "are")), 0)
    if not k or not caption.endswith("."):
        return None
    negated = f"{words[k]}n't" if contracted else f"{words[k]} not"
    return " ".join([*words[:k], negated, *words[k + 1 :]])


def do_negated(caption: str, contracted: bool = False) -> str | None:
    """ "A woman sits at a bar." -> "A woman does not sit at a bar." ("doesn't"): a
    determiner, lower-case words, then a verb in the third person singular (not "is" or "has")."""
    words = caption.split()
    if not words or words[0] not in _DETERMINERS or not caption.endswith("."):
        return None
    for k in range(2, min(len(words) - 1, 5)):
        word = words[k]
        if not word.isalpha() or not word.islower() or word in ("is", "has", "was") or words[k + 1] not in _FOLLOWING:
            continue
        if any(w.endswith("ing") or not w.isalpha() or not w.islower() for w in words[1:k]):
            return None
        lemma = getLemma(word, upos="VERB")
        if word.endswith("s") and lemma and lemma[0] != word and getInflection(lemma[0], "VBZ")[0] == word:
            negated = "doesn't" if contracted else "does not"
            return " ".join([*words[:k], negated, lemma[0], *words[k + 1 :]])
    return None


def participle_negated(caption: str) -> str | None:
    """ "A man wearing a hat is running." -> "A man not wearing a hat is running.": "not" before
    the first "-ing" word that follows a noun (not an auxiliary) within the first six words."""
    words = caption.split()
    for k in range(2, min(len(words), 7)):
        prev = words[k - 1].lower().strip(",")
        ing = words[k].endswith("ing") and len(words[k]) > 4 and words[k] not in ING_NOUNS
        if ing and prev.isalpha() and prev not in _NOT_NOUNS:
            return " ".join([*words[:k], "not", *words[k:]])
        if prev in _NOT_NOUNS:
            return None
    return None


def there_negated(caption: str) -> str | None:
    """ "There is a dog in the park." -> "There is no dog in the park."; "There are dogs" -> "There are no dogs"."""
    words = caption.split()
    if len(words) < 4 or words[0] != "There" or words[1] not in ("is", "are"):
        return None
    rest = words[3:] if words[2] in ("a", "an", "some") else words[2:]
    return " ".join([*words[:2], "no", *rest])


def timed_after_verb(negated: str | None) -> str | None:
    """ "A dog is not running through the grass." -> "A dog is not running at 3:30pm through
    the grass.": the time right after the verb (one followed by a preposition), where French
    puts "pas"."""
    words = (negated or "").split()
    verb = (k + 1 for k, w in enumerate(words[:-2]) if w == "not" and words[k + 1].endswith("ing"))
    k = next((k for k in verb if words[k + 1] in _PREPOSITIONS), None)
    return None if k is None else " ".join([*words[: k + 1], TIME, *words[k + 1 :]])


def nobody_negated(caption: str) -> str | None:
    """ "A man is sitting on a bench." -> "No one is sitting on a bench.": a subject of a
    determiner and at most four words, then "is" or "are", replaced by "No one is"."""
    words = caption.split()
    if not words or words[0] not in _DETERMINERS | {"Two", "Three", "Some"} or not caption.endswith("."):
        return None
    k = next((k for k in range(1, min(len(words) - 1, 6)) if words[k] in ("is", "are")), 0)
    return " ".join(["No", "one", "is", *words[k + 1 :]]) if k else None


def content(text: str) -> str:
    """A sentence without what negating changes: "Un homme ne porte pas de chapeau." and "Un
    homme porte un chapeau." -> "Un homme porte chapeau." """
    return " ".join(_CHANGED.sub("", text).split())


def main() -> int:
    ap = eval_parser(__doc__ or "", "reports/negation")
    ap.add_argument("--limit", type=int, default=200, help="sentences of each kind at most (default 200)")
    args = ap.parse_args()
    with gzip.open(Path(args.data) / "val.en.gz", "rt", encoding="utf-8") as f:
        captions = [line.rstrip("\n") for line in f]
    with gzip.open(Path(args.data) / "val.fr.gz", "rt", encoding="utf-8") as f:
        references = [line.rstrip("\n") for line in f]
    makers = {
        "is/are not": be_negated,
        "isn't/aren't": lambda c: be_negated(c, contracted=True),
        "does not": do_negated,
        "doesn't": lambda c: do_negated(c, contracted=True),
        "there is/are no": there_negated,
        '"not" + -ing word': participle_negated,
        "no one": nobody_negated,
        # with a span (copied, `translator.verbatim`): before rules 7, such sentences were not negated
        "is/are not, then a time": lambda c: f"{n[:-1]} {TIME}." if (n := be_negated(c)) else None,
        # the time where French puts "pas": before rules 8, it went between the verb and "pas"
        "is/are not, a time after the verb": lambda c: timed_after_verb(be_negated(c)),
    }
    tr = Translator(args.model, threads=args.threads)

    def translate(texts: list[str]) -> list[str]:
        return [r.text for r in tr.translate(texts, beam_size=args.beam)]

    kinds: dict[str, dict] = {}
    examples: list[dict[str, str]] = []
    for kind, make in makers.items():
        chosen = [(n, c, r) for c, r in zip(captions, references, strict=True) if (n := make(c))][: args.limit]
        if not chosen:
            continue
        negated = [n for n, _, _ in chosen]
        refs = [[content(r) for _, _, r in chosen]]
        off, on = off_and_on("affirm", translate, negated)
        ceiling = translate([c for _, c, _ in chosen])
        row: dict[str, float | int] = {"sentences": len(chosen)}
        for label, outputs in (("off", off), ("on", on), ("ceiling", ceiling)):
            bodies = [content(o.replace(f" {TIME_FR}", "")) for o in outputs]
            row[f"negated_{label}"] = sum(bool(NEGATED_BY.get(kind, NEGATED).search(o)) for o in outputs)
            row[f"bleu_{label}"] = round(sacrebleu.corpus_bleu(bodies, refs).score, 2)
            row[f"chrf_{label}"] = round(sacrebleu.corpus_chrf(bodies, refs).score, 2)
        kinds[kind] = row
        examples += [
            {"kind": kind, "source": n, "off": a, "on": b, "reference": r}
            for (n, _, r), a, b in list(zip(chosen, off, on, strict=True))[:5]
        ]
    report = {**report_header(args, tr), "beam": args.beam, "kinds": kinds, "examples": examples}
    md = [
        "# Negation: the affirmative translated and negated at the aligned verb, against as they are",
        "",
        f"`{report['command']}`",
        "",
        f"Negated sentences made from val captions, model `{args.model}`, beam {args.beam}, at most {args.limit} "
        'of each kind. "negated": outputs with "ne"/"n\'" before a verb and "pas"/"jamais" after it (for "no one": '
        'starting with "Personne ne"/"Personne n\'"). BLEU and chrF '
        "of each output against the caption's (affirmative) reference, both without negation words and indefinite "
        'articles (which negating turns into "de"); the ceiling is the caption itself translated.',
        "",
        "| kind | sentences | negated, off | negated, on | BLEU off | BLEU on | BLEU ceiling | chrF off | chrF on "
        "| chrF ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {k} | {v['sentences']} | {v['negated_off']} | {v['negated_on']} | {v['bleu_off']} | {v['bleu_on']} "
            f"| {v['bleu_ceiling']} | {v['chrf_off']} | {v['chrf_on']} | {v['chrf_ceiling']} |"
            for k, v in kinds.items()
        ),
        "",
        *md_table(["kind", "source", "off", "on", "reference (affirmative)"], (e.values() for e in examples)),
    ]
    write_report(args.out, report, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
