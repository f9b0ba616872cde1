"""Alignment error rate of attention alignments on NAACL-2003 gold pairs, per layer, head
and method, next to the eflomal baseline, in one run. Prints a Markdown table and
writes JSON + Markdown.

    python scripts/aer_table.py --model models/default --gold-dir ../shared/data/hansards-align \
        --corpus data/multi30k --out reports/alignment_aer

The gold directory holds `dev.en`, `dev.fr` (whitespace-tokenized, line-aligned) and
`dev.wa.nonullalign` (NAACL-2003 links). Attention alignments force-decode the given
French side, in its natural form (`--tokenized`: `translator.detokenize`), and one row
shows the tokens fed as given. The "chosen" row is the model's default (its
guided-alignment head if it was trained with one, else `translator.align.DEFAULT_LAYERS`),
fixed before looking at the gold links; the other rows show how the choice compares.

With `--corpus`, every row is also scored against the eflomal runs instead of the gold
("vs eflomal": sure = links most runs agree on, possible = links of any run). That uses
no gold links, so it can choose a method the way a user without gold would: the one
that agrees best with the statistical aligner (reported as the gold-free choice).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from translator.aer import Gold, consensus_gold, read_gold, score
from translator.align import AUTO_CANDIDATES, adapted, align_methods, choose_method, method_label, resolve_layers
from translator.inference import Translator


def read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--gold-dir", required=True)
    ap.add_argument("--engine", default="torch", choices=["torch", "onnx"])
    ap.add_argument("--variant", help="ONNX variant (with --engine onnx)")
    ap.add_argument("--corpus", help="data dir with train.{en,fr}.gz: also run the eflomal baseline with it")
    ap.add_argument("--eflomal-runs", type=int, default=3, help="eflomal is randomised: median of N runs")
    ap.add_argument("--adapt-steps", type=int, default=0, help="adapt the model on the pairs first (translator.adapt)")
    ap.add_argument(
        "--guide",
        action="store_true",
        help="guided adaptation: the eflomal baseline runs (--corpus) also supervise the alignment head",
    )
    ap.add_argument("--guide-majority", action="store_true",
                    help="guide with the links most eflomal runs agree on, instead of every run averaged")  # fmt: skip
    ap.add_argument("--ablate", choices=["null", "full-context"], action="append", default=[],
                    help="guided adaptation without its NULL targets or its full-context pass")  # fmt: skip
    ap.add_argument("--adapt-lr", type=float, help="learning rate of the adaptation (default: translator.adapt's)")
    ap.add_argument("--teacher", help="JSON file of the eflomal runs' links: read if it exists (for the same pairs "
                    "and --eflomal-runs), else written, so settings can be compared on the same runs")  # fmt: skip
    ap.add_argument("--only-chosen", action="store_true", help="only the chosen setting's rows (for repeats)")
    ap.add_argument("--out", help="write OUT.json and OUT.md")
    args = ap.parse_args()

    gold_dir = Path(args.gold_dir)
    src, tgt = read(gold_dir / "dev.en"), read(gold_dir / "dev.fr")
    gold = read_gold(
        gold_dir / "dev.wa.nonullalign",
        source_lengths=[len(s.split()) for s in src],
        target_lengths=[len(t.split()) for t in tgt],
    )
    if args.guide and not (args.corpus and args.adapt_steps):
        ap.error("--guide needs --corpus and --adapt-steps")
    baseline: list[dict[str, Any]] = []
    majority: dict[str, Any] = {}
    guide = None
    reference: Gold | None = None
    if args.corpus:
        from translator.eflomal_baseline import guide_links, load_corpus, majority_guide

        corpus = Path(args.corpus)
        pairs = list(zip(src, tgt, strict=True))
        cache = Path(args.teacher) if args.teacher else None
        if cache and cache.exists():
            saved = json.loads(cache.read_text())
            if saved["pairs"] != [list(p) for p in pairs] or saved["runs"] != args.eflomal_runs:
                ap.error(f"{cache} holds eflomal runs of other pairs or another --eflomal-runs")
            teacher = [[[tuple(link) for link in run] for run in runs] for runs in saved["links"]]
        else:
            teacher = guide_links(pairs, load_corpus(corpus / "train.en.gz", corpus / "train.fr.gz"), args.eflomal_runs)
            if cache:
                cache.write_text(json.dumps({"pairs": pairs, "runs": args.eflomal_runs, "links": teacher}))
        for run in range(args.eflomal_runs):
            baseline.append(score(gold, [set(links[run]) for links in teacher]))
        reference = consensus_gold(teacher)
        majority = score(gold, reference.sure)  # the teacher ensemble itself: links most runs agree on
        if args.guide:  # the runs, averaged by the adaptation; or their majority vote as the one guide
            guide = majority_guide(teacher) if args.guide_majority else teacher
    tr = Translator(args.model, engine=args.engine, device="cpu", variant=args.variant)
    adapt_seconds = 0.0
    if args.adapt_steps:  # once, for every setting below
        t0 = time.perf_counter()
        tr = adapted(tr, src, tgt, steps=args.adapt_steps, guide=guide, tokenized=True, lr=args.adapt_lr,
                     null="null" not in args.ablate, full_context="full-context" not in args.ablate)  # fmt: skip
        adapt_seconds = round(time.perf_counter() - t0, 1)
    cfg = tr.config
    chosen_layer: Any = cfg.alignment_layer  # None: DEFAULT_LAYERS, heads averaged
    chosen_head: Any = "mean" if cfg.alignment_head is None else cfg.alignment_head
    settings: list[tuple[str, Any, Any]] = [("chosen (model default)", None, "mean")]
    if not args.only_chosen:
        settings.append(("chosen, tokens as given (no --tokenized)", None, "mean"))
        for layer in range(cfg.decoder_layers):
            settings.append((f"layer {layer}, mean of heads", layer, "mean"))
            settings += [(f"layer {layer}, head {h}", layer, h) for h in range(cfg.n_heads)]
        settings.append(("mean of layers and heads", "mean", "mean"))

    rows: list[dict[str, Any]] = []
    for name, layer, head in settings:
        t0 = time.perf_counter()
        tokenized = "as given" not in name
        results = align_methods(tr, src, tgt, AUTO_CANDIDATES, layer=layer, head=head, tokenized=tokenized)
        seconds = round(time.perf_counter() - t0, 2)  # the setting's attention, read by every method
        for (method, threshold), result in zip(AUTO_CANDIDATES, results, strict=True):
            hyp = [{(i, j) for i, j, _ in a.links} for a in result]
            s = score(gold, hyp)
            used = resolve_layers(chosen_layer if layer is None else layer, cfg.decoder_layers)
            rows.append({
                "setting": name, "layers": used, "head": chosen_head if layer is None else head,
                "method": method_label(method, threshold),
                "precision": s["precision"], "recall": s["recall"], "aer": s["aer"],
                "aer_vs_eflomal": score(reference, hyp)["aer"] if reference else None,
                "seconds": seconds,
            })  # fmt: skip
    command = "python scripts/aer_table.py " + shlex.join(sys.argv[1:])
    report = {
        "command": command,
        "model": str(tr.model_dir),
        "engine": args.engine,
        "gold": str(gold_dir / "dev.wa.nonullalign"),
        "chosen": {"layer": chosen_layer, "head": chosen_head, "method": "grow-diag-final-and", "tokenized": True},
        "adapt_steps": args.adapt_steps,
        "adapt_lr": args.adapt_lr,
        "guided_adaptation": bool(args.guide),
        "guide": None
        if not args.guide
        else "majority vote of the eflomal runs"
        if args.guide_majority
        else "every eflomal run",
        "ablated": args.ablate,
        "adapt_seconds": adapt_seconds,
        "rows": rows,
        "eflomal_runs": baseline,
    }
    md = [f"# AER on {len(src)} Hansards pairs", "", f"`{command}`", ""]
    md += [f"Model `{tr.model_dir}` ({args.engine}); the chosen setting is the model's default, fixed in advance.", ""]
    if args.adapt_steps:
        labels = "the majority vote of the eflomal runs below" if args.guide_majority else "the eflomal runs below"
        how = f"guided adaptation (translation loss + {labels} as alignment labels)" if args.guide else \
            "adaptation (translation loss only)"  # fmt: skip
        if args.ablate:
            how += f", without: {', '.join(args.ablate)}"
        if args.adapt_lr:
            how += f", learning rate {args.adapt_lr:g}"
        md += [f"Adapted on the pairs first: {args.adapt_steps} steps of {how}, {adapt_seconds} s; "
               f"the chosen head is layer {chosen_layer}, head {chosen_head}.", ""]  # fmt: skip
    if baseline:
        aers = sorted(float(b["aer"]) for b in baseline)
        med = aers[len(aers) // 2]
        md += [f"eflomal baseline (training corpus + pairs, gdfa), median of {len(aers)} runs: **AER {med:.3f}** "
               f"(range {aers[0]:.3f}-{aers[-1]:.3f})", ""]  # fmt: skip
        report["eflomal_median_aer"] = med
        report["eflomal_majority"] = majority
        md += [f"The eflomal runs' majority vote (links most of the {len(aers)} runs agree on"
               f"{'; the guide' if args.guide_majority else ''}): AER {majority['aer']:.3f} "
               f"(precision {majority['precision']:.3f}, recall {majority['recall']:.3f}).", ""]  # fmt: skip
        choice = choose_method(tr, src, tgt, teacher, tokenized=True)  # what `translator align --method auto` picks
        pick = next(r for r in rows if r["setting"] == settings[0][0] and r["method"] == choice.name)
        report["gold_free_method"] = {"method": pick["method"], "aer_vs_eflomal": pick["aer_vs_eflomal"],
                                      "aer": pick["aer"]}  # fmt: skip
        md += [f"Gold-free method choice for the chosen setting (best agreement with the eflomal runs): "
               f"**{pick['method']}**, AER {pick['aer']:.3f}.", ""]  # fmt: skip
    md += ["| setting | method | precision | recall | AER | AER vs eflomal (no gold) |", "|---|---|---|---|---|---|"]
    for r in rows:
        vs = "" if r["aer_vs_eflomal"] is None else f"{r['aer_vs_eflomal']:.3f}"
        md.append(
            f"| {r['setting']} | {r['method']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['aer']:.3f} | {vs} |"
        )
    text = "\n".join(md) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".json").write_text(json.dumps(report, indent=2) + "\n")
        Path(args.out + ".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
