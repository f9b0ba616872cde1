"""Questions: translated as their statement and asked with "Est-ce que", against as they are.

    python scripts/eval_questions.py --model models/default --out reports/questions

Multi30k has no questions, so they are made from val: every caption of the shape the rule
handles ("A man is riding a bike." -> "Is a man riding a bike?", and "Why is a man riding
a bike?"; "A woman sits at a bar." -> "Does a woman sit at a bar?") whose question turns
back into the same statement (`translator.questions.statement`). Each question is translated with the rule (on, the
default) and without it (off: the question is translated as it is, with a full stop, and
the "?" put back). The question form differs by design ("Est-ce que le chien court ?"
against "Le chien court ?", both French; "Pourquoi est-ce que ..."), so what is scored is
the content: each output without its question framing and "?", as a statement, against the
caption's reference; and how many outputs still ask "why" ("Pourquoi"). Statements with a
question tag ("A man is riding a bike, isn't it?"), asked with "n'est-ce pas" (on) or translated
as they are (off), are scored the same way. The captions
themselves, translated as statements, are the ceiling.

Questions that ask for the subject or the object have no reference (the caption's reference
names what they ask for), so for them the report counts the outputs that ask for it in
French: "Who is riding a bike?" (from "A man is riding a bike.") asked with "Qui" and
without an invented subject, and "What is a man holding?" (from "A man is holding a
baby.") with "Qu'est-ce que" or "PREPOSITION quoi est-ce que"; "Where is the man?" (from
"A man is riding a bike.") with "Où est" and "What color is the shirt?" (from "... a red
shirt, ...") with "De quelle couleur", and "How many men are there?" (from "Two men are
...") with "Combien".
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import sacrebleu
from eval_common import eval_parser, md_table, off_and_on, report_header, write_report
from lemminflect import getInflection, getLemma

from translator.inference import Translator
from translator.questions import AUXILIARIES, statement

_ASKED = re.compile(r"^(?:Pourquoi est-ce|Est-ce) qu(?:e |')|^Pourquoi ", re.IGNORECASE)
_TAG = re.compile(r",?\s*n['’]est-ce pas$", re.IGNORECASE)
_ASKS_WHAT = re.compile(r"^(?:Qu'est-ce qu|Que |Qu'|\w+ quoi )", re.IGNORECASE)
_OBJECT = re.compile(r"(?:a|an|the|some|two|three|his|her|their|its)$", re.IGNORECASE)
_COLOR = re.compile(
    r"\ba (?:red|blue|green|yellow|black|white|orange|pink|purple|brown|gray|grey) ([a-z]+)"
    r"(?= (?:and|is|are|with|in|on|at|near|holding|sitting|standing|walking)\b|[.,])"
)


def question_of(caption: str, why: bool = False) -> str | None:
    """ "A man is riding a bike." -> "Is a man riding a bike?" ("Why is a man riding a bike?")
    when the rule maps it back."""
    if not caption.endswith("."):
        return None
    words = caption[:-1].split()
    for k in range(1, min(len(words), 6)):
        if words[k] in AUXILIARIES:
            subject = [words[0][:1].lower() + words[0][1:], *words[1:k]]
            opening = ["Why", words[k]] if why else [words[k].capitalize()]
            asked = " ".join([*opening, *subject, *words[k + 1 :]])
            said = statement(asked)
            return asked + "?" if said and said[1] == caption[:-1] else None
    return None


def do_question_of(caption: str) -> str | None:
    """ "A woman sits at a bar." -> "Does a woman sit at a bar?": a verb in the third person
    singular (not "is", "has", "was") within the first five words, when the rule maps the
    question back to the caption."""
    if not caption.endswith("."):
        return None
    words = caption[:-1].split()
    for k in range(2, min(len(words), 5)):
        word = words[k]
        if not word.isalpha() or not word.islower() or word in ("is", "has", "was"):
            continue
        lemma = getLemma(word, upos="VERB")
        if word.endswith("s") and lemma and lemma[0] != word and getInflection(lemma[0], "VBZ")[0] == word:
            asked = " ".join(["Does", words[0][:1].lower() + words[0][1:], *words[1:k], lemma[0], *words[k + 1 :]])
            said = statement(asked)
            return asked + "?" if said and said[1] == caption[:-1] else None
    return None


def part_questions(caption: str) -> tuple[str | None, str | None]:
    """ "A man is holding a baby." -> ("Who is holding a baby?", "What is a man holding?"):
    the question for the subject, and for the object when an "-ing" word is followed by one
    (each None when the rule would not take it)."""
    words = caption.removesuffix(".").split()
    k = next((k for k in range(1, min(len(words), 6)) if words[k] in AUXILIARIES), 0)
    if not k or k + 1 >= len(words):
        return None, None
    who = " ".join(["Who", words[k], *words[k + 1 :]]) + "?"
    subject = [words[0][:1].lower() + words[0][1:], *words[1:k]]
    what = " ".join(["What", words[k], *subject, words[k + 1]]) + "?"
    has_object = k + 2 < len(words) and _OBJECT.fullmatch(words[k + 2])
    return (who if statement(who[:-1]) else None), (what if has_object and statement(what[:-1]) else None)


def noun_questions(caption: str) -> tuple[str | None, str | None]:
    """ "A man in a red shirt is riding a bike." -> ("Where is the man in a red shirt?", "What
    color is the shirt?"): where the subject is, and the colour of a thing it names (each None
    when the caption has no such part or the rule would not take it)."""
    words = caption.removesuffix(".").split()
    k = next((k for k in range(2, min(len(words), 7)) if words[k] in ("is", "are")), 0)
    where = None
    if k and words[0] in ("A", "An", "The", "Two", "Three"):
        subject = ["the" if words[0] in ("A", "An") else words[0].lower(), *words[1:k]]
        where = " ".join(["Where", words[k], *subject]) + "?"
    color = _COLOR.search(caption)
    what = f"What color is the {color.group(1)}?" if color else None
    return (where if where and statement(where[:-1]) else None), (what if what and statement(what[:-1]) else None)


def how_many_question(caption: str) -> str | None:
    """ "Two young men are ..." -> "How many young men are there?" (None when the rule would not take it)."""
    words = caption.removesuffix(".").split()
    k = next((k for k in range(2, min(len(words), 5)) if words[k] == "are"), 0)
    if not k or words[0] not in ("Two", "Three", "Four", "Five", "Several", "Many"):
        return None
    question = " ".join(["How many", *words[1:k], "are there"])
    return question + "?" if statement(question) else None


def tagged(caption: str) -> str:
    """ "A man is riding a bike." -> "A man is riding a bike, isn't it?" ("aren't they?" after "are")."""
    words = caption[:-1].split()
    aux = next((w for w in words[1:6] if w in AUXILIARIES), "is")
    return caption[:-1] + (", aren't they?" if aux in ("are", "were") else ", isn't it?")


def content(output: str) -> str:
    """The statement inside a translated question: "Est-ce qu'un homme court ?" -> "Un homme court.";
    "Un homme court, n'est-ce pas ?" -> "Un homme court." """
    text = _ASKED.sub("", output.strip()).removesuffix("?").rstrip().rstrip(".")
    text = _TAG.sub("", text).rstrip().rstrip(".")
    return (text[:1].upper() + text[1:] + ".") if text else text


def main() -> int:
    ap = eval_parser(__doc__ or "", "reports/questions")
    args = ap.parse_args()
    with gzip.open(Path(args.data) / "val.en.gz", "rt", encoding="utf-8") as f:
        captions = [line.rstrip("\n") for line in f]
    with gzip.open(Path(args.data) / "val.fr.gz", "rt", encoding="utf-8") as f:
        references = [line.rstrip("\n") for line in f]
    chosen = [(q, c, r) for c, r in zip(captions, references, strict=True) if (q := question_of(c))]
    why = [question_of(c, why=True) or "" for _, c, _ in chosen]
    questions = [q for q, _, _ in chosen]
    refs = [[r for _, _, r in chosen]]
    tr = Translator(args.model, threads=args.threads)

    def translate(texts: list[str]) -> list[str]:
        return [r.text for r in tr.translate(texts, beam_size=args.beam)]

    off, on = off_and_on("statement", translate, questions)  # off: the rules before translator.questions
    why_off, why_on = off_and_on("statement", translate, why)
    tags = [tagged(c) for _, c, _ in chosen]
    tag_off, tag_on = off_and_on("statement", translate, tags)
    ceiling = translate([c for _, c, _ in chosen])
    does = [(q, c, r) for c, r in zip(captions, references, strict=True) if (q := do_question_of(c))]
    does_off, does_on = off_and_on("statement", translate, [q for q, _, _ in does])
    does_ceiling = translate([c for _, c, _ in does])
    does_refs = [[r for _, _, r in does]]
    parts = [part_questions(c) for c in captions]
    nouns = [noun_questions(c) for c in captions]
    kinds = {  # the questions of each kind, and how an output that asks for the part starts
        "who": ([q for q, _ in parts if q], re.compile("Qui ")),
        "what": ([q for _, q in parts if q], _ASKS_WHAT),
        "where is": ([q for q, _ in nouns if q], re.compile("Où (?:est|sont) ")),
        "what color": ([q for _, q in nouns if q], re.compile("De quelle couleur ")),
        "how many": ([q for c in captions if (q := how_many_question(c))], re.compile("Combien ")),
    }
    asking: dict[str, dict[str, int]] = {}
    part_outputs: dict[str, list[tuple[str, str, str]]] = {}  # kind: (question, off, on)
    for kind, (asked_questions, asks) in kinds.items():
        asked_questions = asked_questions[: len(chosen)]
        kind_off, kind_on = off_and_on("statement", translate, asked_questions)
        part_outputs[kind] = list(zip(asked_questions, kind_off, kind_on, strict=True))
        asking[kind] = {
            "questions": len(asked_questions),
            "off": sum(bool(asks.match(o)) for o in kind_off),
            "on": sum(bool(asks.match(o)) for o in kind_on),
        }
    # the statement's "quelqu'un" / "quelque chose" left in an output (questions saying "some..." themselves aside)
    leftover = sum(
        "quelqu" in o.lower() for k in ("who", "what") for q, _, o in part_outputs[k] if "some" not in q.lower()
    )
    rows = {
        "yes/no, as they are (off)": off,
        "yes/no, statement + Est-ce que (on)": on,
        "why, as they are (off)": why_off,
        "why, statement + Pourquoi est-ce que (on)": why_on,
        "tag (..., isn't it?), as they are (off)": tag_off,
        "tag, statement + n'est-ce pas (on)": tag_on,
        "the captions as statements (ceiling)": ceiling,
    }
    does_rows = {
        "does, as they are (off)": does_off,
        "does, statement + Est-ce que (on)": does_on,
        "the captions of the does questions (ceiling)": does_ceiling,
    }
    scores = {}
    for label, outputs in [*rows.items(), *does_rows.items()]:
        bodies = [content(o) for o in outputs]
        these = does_refs if label in does_rows else refs
        scores[label] = {
            "bleu": round(sacrebleu.corpus_bleu(bodies, these).score, 2),
            "chrf": round(sacrebleu.corpus_chrf(bodies, these).score, 2),
            "end_with_question_mark": sum(o.rstrip().endswith("?") for o in outputs),
            "with_pourquoi": sum("pourquoi" in o.lower() for o in outputs),
            "with_n_est_ce_pas": sum(bool(_TAG.search(o.removesuffix("?").rstrip())) for o in outputs),
        }
    examples = (
        [
            {"question": q, "off": a, "on": b, "reference": r}
            for (q, _, r), a, b in list(zip(chosen, off, on, strict=True))[:6]
        ]
        + [
            {"question": q, "off": a, "on": b, "reference": r}
            for q, (_, _, r), a, b in list(zip(why, chosen, why_off, why_on, strict=True))[:4]
        ]
        + [
            {"question": q, "off": a, "on": b, "reference": r}
            for q, (_, _, r), a, b in list(zip(tags, chosen, tag_off, tag_on, strict=True))[:3]
        ]
        + [
            {"question": q, "off": a, "on": b, "reference": r}
            for (q, _, r), a, b in list(zip(does, does_off, does_on, strict=True))[:4]
        ]
    )
    shown = {"who": 4, "what": 4, "where is": 3, "what color": 3, "how many": 3}
    part_examples = [{"question": q, "off": a, "on": b} for k, n in shown.items() for q, a, b in part_outputs[k][:n]]
    report = {
        **report_header(args, tr),
        "beam": args.beam,
        "questions": len(chosen),
        "does_questions": len(does),
        "scores": scores,
        "examples": examples,
        "asking_for_a_part": asking,
        "on_outputs_with_quelqu_un_or_quelque_chose_left": leftover,
        "part_examples": part_examples,
    }
    md = [
        '# Questions: statement + "Est-ce que" against as they are',
        "",
        f"`{report['command']}`",
        "",
        f'{len(chosen)} yes/no, {len(chosen)} why and {len(chosen)} tag questions made from val captions ("A man is '
        'riding a bike." -> "Is a man riding a bike?", "Why is a man riding a bike?", "A man is riding a bike, isn\'t '
        f'it?"), model `{args.model}`, beam {args.beam}. '
        'BLEU and chrF of each output\'s content (without its question framing and "?", as a statement) '
        f"against the caption's reference. 'does': {len(does)} questions with \"does\" made from val captions "
        '("A woman sits at a bar." -> "Does a woman sit at a bar?"), scored the same way against the references of '
        "their captions.",
        "",
        "| translation | BLEU (content) | chrF (content) | outputs ending with ? | outputs with Pourquoi "
        "| outputs with n'est-ce pas |",
        "|---|---|---|---|---|---|",
        *(
            f"| {label} | {s['bleu']} | {s['chrf']} | {s['end_with_question_mark']} | {s['with_pourquoi']} "
            f"| {s['with_n_est_ce_pas']} |"
            for label, s in scores.items()
        ),
        "",
        *md_table(["question", "off", "on", "reference (statement)"], (e.values() for e in examples)),
        "",
        "## Questions that ask for the subject, the object, a place, a colour or a number",
        "",
        '"Who" questions made from val captions ("A man is riding a bike." -> "Who is riding a bike?") and "what" '
        'questions ("A man is holding a baby." -> "What is a man holding?"), as many as above at most. Counted: the '
        'outputs that ask for the part ("Qui ..." for who; "Qu\'est-ce que ...", "Que ..." or "PREPOSITION quoi ..." '
        'for what). Also "Where is the man?" (from "A man is riding a bike."), "What color is the shirt?" (from '
        '"... a red shirt ...") and "How many men are there?" (from "Two men are ..."), asked with "Où est/sont ...", '
        '"De quelle couleur ..." and "Combien ...".',
        "",
        "| questions | number | asking for it, off | on |",
        "|---|---|---|---|",
        *(f"| {k} | {v['questions']} | {v['off']} | {v['on']} |" for k, v in asking.items()),
        "",
        f'Outputs with the rule on that still hold the statement\'s "quelqu\'un" or "quelque chose" (questions '
        f'with "some..." of their own aside): {leftover}. The who and what questions not asked this way are over '
        '20 words, cut into clauses first, or not English ("What is a long-haired mail swinging?"); the where '
        'questions, those with an "-ing" word other than "wearing" ("Where are the man and woman pushing '
        'strollers?" is asked "Où est-ce que l\'homme et une femme poussent des poussettes ?").',
        "",
        *md_table(["question", "off", "on"], (e.values() for e in part_examples)),
    ]
    write_report(args.out, report, md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
