"""The `translator` console script: one subcommand per job.

Every subcommand turns a `TranslatorError` into `error: <message>` on stderr
and exit code 2, never a stack trace.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from translator.errors import TranslatorError

if TYPE_CHECKING:
    from translator.inference import Translator

logger = logging.getLogger("translator")


def _read_text_file(path: str) -> list[str]:
    from training.data import read_lines

    _check_input_file(path)
    return read_lines(Path(path))


def _check_input_file(path: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise TranslatorError(f"{path} is a directory, not a file")
    if not p.is_file():
        raise TranslatorError(f"file not found: {path}")


def _check_model_dir(args: argparse.Namespace) -> None:
    """`--model` given as an existing file: say so (a missing path is reported by the bundle loader)."""
    model = getattr(args, "model", None)
    if model and Path(model).exists() and not Path(model).is_dir():
        raise TranslatorError(f"--model {model} is not a directory (a model bundle is a directory)")


# -- argparse types: a bad value is a one-line usage error, exit code 2 ----------------------
def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {value!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {n}")
        return n

    return parse


_nonnegative_int = _int_at_least(0, ">= 0")
_positive_int = _int_at_least(1, ">= 1")


def _unit_interval(value: str) -> float:
    """A float in (0, 1]."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {value!r}") from None
    if not 0.0 < x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return x


def _local_translator(args: argparse.Namespace) -> Translator:
    """The in-process `Translator` that the decode options (`_add_decode_args`) describe."""
    from translator.inference import Translator

    _check_model_dir(args)
    return Translator(
        args.model,
        max_input_tokens=args.max_input_tokens,
        threads=args.threads,
        engine=args.engine,
        device=args.device,
        variant=args.variant,
        verbatim=args.verbatim,
        clauses=args.clauses,
    )


def _check_output_path(path: str | None, option: str) -> None:
    """Before any work: `path` can be written (its directory exists and takes a new file; it is not a directory)."""
    if not path:
        return
    p = Path(path)
    if p.is_dir():
        raise TranslatorError(f"{option} {path} is a directory")
    parent = p.parent
    if not parent.exists():
        raise TranslatorError(f"{option} {path}: the directory {parent} does not exist")
    if not parent.is_dir():
        raise TranslatorError(f"{option} {path}: {parent} is not a directory")
    try:  # the write goes through a temporary file in the same directory: try creating one
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TranslatorError(f"{option} {path}: cannot write to {parent}: {exc.strerror or exc}") from None


def _write_output(text: str, path: str | None) -> None:
    """Write to `path` (UTF-8; gzip when it ends with .gz; atomically) or, without one, to stdout."""
    if path:
        data = text.encode("utf-8")
        if path.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        from translator.bundle import atomic_write_bytes

        try:
            atomic_write_bytes(Path(path), data)
        except OSError as exc:
            raise TranslatorError(f"cannot write {path}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def cmd_data(args: argparse.Namespace) -> int:
    from training.data import fetch_multi30k

    fetch_multi30k(
        Path(args.out), Path(args.source) if args.source else None, verify_checksum=not args.no_verify_checksum
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from training.config import load_train_config
    from training.trainer import train

    cfg = load_train_config(args.config, args.set)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    bundle = train(cfg, out, progress=not args.quiet)
    print(bundle)
    return 0


def _decode_options(args: argparse.Namespace) -> dict[str, object]:
    return {
        "beam_size": args.beam,
        "length_penalty": args.length_penalty,
        "max_length_ratio": args.max_length_ratio,
        "max_batch_size": args.batch_size,
    }


def _batch_job(args: argparse.Namespace) -> int:
    """`translate -i FILE`: a streaming, resumable batch job (translator/batch.py)."""
    from translator.batch import DecodeOptions, EngineSpec, JobSpec, run_job
    from translator.batch_io import RecordFormat

    workers = args.workers
    job = JobSpec(
        input=Path(args.input),
        output=Path(args.output) if args.output else None,
        fmt=RecordFormat(args.format, args.text_field, args.id_field, args.output_field, args.score_field),
        errors=args.errors,
        window=args.window,
        overlong=args.overlong,
        decode=DecodeOptions(args.beam, args.length_penalty, args.max_length_ratio, args.batch_size),
        engine=EngineSpec(
            model=args.model,
            engine=args.engine,
            device=args.device,
            variant=args.variant,
            # default: one worker uses the engine's default (all cores); N workers share them
            threads=args.threads or (max((os.cpu_count() or 1) // workers, 1) if workers > 1 else 0),
            max_input_tokens=args.max_input_tokens,
            verbatim=args.verbatim,
            clauses=args.clauses,
        ),
        workers=workers,
        backend=args.backend,
        server=args.server,
        api_key=args.api_key,
        tls=args.tls,
        tls_ca=args.tls_ca,
        max_in_flight=args.max_in_flight,
        restart=args.restart,
        quiet=args.quiet,
    )
    summary = run_job(job)
    if not args.quiet:
        print(summary.line(), file=sys.stderr)
    return 0


# options of `translate -i FILE` jobs only: their parser default is None, so an explicit one is seen
_BATCH_DEFAULTS: dict[str, object] = {
    "format": "text",
    "text_field": "text",
    "id_field": "id",
    "output_field": "translation",
    "score_field": None,
    "window": 10000,
    "overlong": "split",
    "workers": 1,
    "backend": "local",
    "max_in_flight": 32,
    "restart": False,
    "quiet": False,
}


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _decode_stdin(errors: str) -> list[str]:
    """Stdin as lines: bytes split on "\n" only (one trailing "\r" dropped), decoded per line."""
    from translator.batch_io import decode_line

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes underneath (e.g. io.StringIO)
        return [line.rstrip("\n").removesuffix("\r") for line in sys.stdin]
    texts = []
    for n, raw in enumerate(stream, 1):
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        try:
            texts.append(decode_line(raw, n, errors, "stdin")[0])
        except TranslatorError:
            raise TranslatorError(f"stdin line {n} is not valid UTF-8 (--errors replace to go on)") from None
    return texts


def _decode_arguments(texts: list[str], errors: str) -> list[str]:
    """Command-line texts: invalid UTF-8 reaches Python as surrogate escapes."""
    out = []
    for n, text in enumerate(texts, 1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            if errors != "replace":
                raise TranslatorError(f"text argument {n} is not valid UTF-8 (--errors replace to go on)") from None
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        out.append(text)
    return out


def cmd_translate(args: argparse.Namespace) -> int:
    args.input = None if args.input == "-" else args.input  # "-": stdin, read whole (not a job)
    args.output = None if args.output == "-" else args.output
    explicit = [dest for dest in _BATCH_DEFAULTS if getattr(args, dest) is not None]
    for dest, default in _BATCH_DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)
    if args.input and args.text:
        raise TranslatorError("give texts or -i FILE, not both")
    if not args.input and explicit:
        names = ", ".join(_option(dest) for dest in explicit)
        raise TranslatorError(f"{names}: only for -i FILE jobs (batch translation of a file)")
    if args.input and (args.json or args.n_best > 1):
        raise TranslatorError("--json, --n-best: only for texts and stdin (-i FILE jobs: --format jsonl --score-field)")
    if args.n_best > 1 and not args.json:
        raise TranslatorError("--n-best: only with --json (the plain output is one line per text)")
    if args.server and not args.verbatim:
        raise TranslatorError("--no-verbatim: not with --server (the server always copies spans through)")
    if args.server and not args.clauses:
        raise TranslatorError("--no-clauses: not with --server (the server always splits long sentences)")
    _check_model_dir(args)
    if args.input:  # the job checks its output itself (JobSpec.validate), before any work
        _check_input_file(args.input)
        return _batch_job(args)
    _check_output_path(args.output, "-o")
    texts = _decode_arguments(list(args.text), args.errors) if args.text else _decode_stdin(args.errors)
    n_best = _hypotheses(args, texts)
    if args.json:
        out = "".join(_json_line(text, hyps) for text, hyps in zip(texts, n_best, strict=True))
    else:
        out = "".join(hyps[0][0] + "\n" for hyps in n_best)
    _write_output(out, args.output)
    return 0


def _hypotheses(args: argparse.Namespace, texts: list[str]) -> list[list[tuple[str, float, float]]]:
    """(text, score, log_prob) of each text's --n-best hypotheses, best first: computed here, or
    by the translation server of --server (the same output)."""
    options = {**_decode_options(args), "n_best": args.n_best}
    if args.server:
        from translator.client import TranslatorClient

        with TranslatorClient(args.server, api_key=args.api_key, tls=args.tls, root_certificates=args.tls_ca) as client:
            if args.model:  # the server translates with its own model: a --model given must be that one
                client.served_model(Path(args.model))
            translations = client.translate_checked(texts, return_scores=True, **options)
        return [[(h.text, h.score, h.log_prob) for h in t.hypotheses] for t in translations]
    results = _local_translator(args).translate(texts, **options)
    return [[(h.text, h.score, h.log_prob) for h in r.hypotheses] for r in results]


def _json_line(source: str, hypotheses: list[tuple[str, float, float]]) -> str:
    # scores to 4 decimals: the server sends them as float32
    hyps = [{"text": t, "score": round(s, 4), "log_prob": round(lp, 4)} for t, s, lp in hypotheses]
    line = {"source": source, "translation": hyps[0]["text"], "score": hyps[0]["score"], "hypotheses": hyps}
    return json.dumps(line, ensure_ascii=False) + "\n"


def cmd_serve(args: argparse.Namespace) -> int:
    from server.app import run_from_namespace

    return run_from_namespace(args)


def cmd_loadtest(args: argparse.Namespace) -> int:
    from server.loadtest import run

    return run(args)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import sacrebleu

    _check_output_path(args.output, "--output")
    src, ref = _read_text_file(args.src), _read_text_file(args.ref)
    if len(src) != len(ref):
        raise TranslatorError(f"{args.src} has {len(src)} lines but {args.ref} has {len(ref)}")
    if not src:
        raise TranslatorError(f"{args.src} is empty: no sentences to evaluate")
    translator = _local_translator(args)
    t0 = time.perf_counter()
    hyps = [r.text for r in translator.translate(src, **_decode_options(args))]  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    if args.output:
        _write_output("".join(h + "\n" for h in hyps), args.output)
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    result = {
        "bleu": round(bleu.corpus_score(hyps, [ref]).score, 2),
        "chrf": round(chrf.corpus_score(hyps, [ref]).score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(src),
        "beam": args.beam,
        "model": str(translator.model_dir),
        "seconds": round(seconds, 2),
    }
    print(json.dumps(result))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from translator.onnx_export import run_export

    print(json.dumps(run_export(args.model, args.variants, int8_rows=args.int8_rows)))
    return 0


def cmd_convert_ct2(args: argparse.Namespace) -> int:
    from translator.ct2 import convert_bundle

    if Path(args.out).exists() and not args.force:
        raise TranslatorError(f"{args.out} already exists (use --force to replace it)")
    out = convert_bundle(Path(args.model), Path(args.out), args.quantization, force=args.force)
    print(out)
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    from translator.align import DEFAULT_METHOD, adapted, align, choose_method, parse_head, parse_layer

    _check_output_path(args.out, "--out")
    if args.plot:
        _check_plot_dir(args.plot)
    src = _read_text_file(args.src)
    tgt = _read_text_file(args.tgt) if args.tgt else None
    if tgt is not None and len(src) != len(tgt):
        raise TranslatorError(f"{args.src} has {len(src)} lines but {args.tgt} has {len(tgt)}")
    layer, head = parse_layer(args.layer), parse_head(args.head)
    if args.adapt_steps and tgt is None:
        raise TranslatorError("--adapt-steps needs --tgt: the model adapts on the given pairs")
    guide = runs = None
    if args.guide_corpus:
        if tgt is None or not args.adapt_steps:
            raise TranslatorError("--guide-corpus needs --tgt and --adapt-steps")
        from training.data import split_paths
        from translator.eflomal_baseline import guide_links, load_corpus, majority_guide

        corpus = load_corpus(*split_paths(Path(args.guide_corpus), "train"))
        runs = guide_links(list(zip(src, tgt, strict=True)), corpus, runs=args.guide_runs)
        guide = majority_guide(runs)
    method = args.method or ("auto" if guide is not None else DEFAULT_METHOD)
    if method == "auto" and guide is None:
        raise TranslatorError("--method auto needs --guide-corpus: it picks the method that agrees best with the "
                              "eflomal runs")  # fmt: skip
    translator = _local_translator(args)
    threshold = args.threshold
    if args.adapt_steps and tgt is not None:
        translator = adapted(translator, src, tgt, steps=args.adapt_steps, guide=guide, tokenized=args.tokenized,
                             progress=True)  # fmt: skip
    if method == "auto" and runs is not None and tgt is not None:
        choice = choose_method(translator, src, tgt, runs, tokenized=args.tokenized, layer=layer, head=head)
        logger.info("method: %s (AER %.3f against the eflomal runs' consensus; no gold links)",
                    choice.name, choice.agreement_aer)  # fmt: skip
        method = choice.method
        threshold = threshold if choice.threshold is None else choice.threshold
    result = align(translator, src, tgt, method=method, layer=layer, head=head,
                   threshold=threshold, beam_size=args.beam, max_batch_size=args.batch_size,
                   return_raw_attention=bool(args.plot), tokenized=args.tokenized)  # fmt: skip
    lines = [a.pharaoh() if args.format == "pharaoh" else a.to_json() for a in result]
    _write_output("".join(line + "\n" for line in lines), args.out)
    if args.plot:
        from translator.alignment_report import write_pictures

        paths = write_pictures(result, args.plot, layer=layer, head=head, method=method)
        logger.info("wrote %d heatmaps and %s", len(paths) - 1, paths[-1])
    return 0


def _check_plot_dir(path: str) -> None:
    """`align --plot DIR`, before any work: DIR is a writable directory or can be created."""
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise TranslatorError(f"--plot: {directory} exists and is not a directory")
    existing = directory
    while not existing.exists():  # the nearest existing ancestor must be a directory we can write into
        existing = existing.parent
    if not existing.is_dir():
        raise TranslatorError(f"--plot: cannot create {directory}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TranslatorError(f"--plot: cannot write to {existing}")


def cmd_aer(args: argparse.Namespace) -> int:
    from translator.aer import evaluate_files

    print(json.dumps(evaluate_files(args.gold, args.hyp, args.src, args.tgt)))
    return 0


def cmd_align_baseline(args: argparse.Namespace) -> int:
    from translator.eflomal_baseline import align_files

    _check_output_path(args.out, "--out")
    lines = align_files(args.src, args.tgt, args.corpus_src, args.corpus_tgt,
                        expand_contractions=args.expand_contractions)  # fmt: skip
    _write_output("".join(line + "\n" for line in lines), args.out)
    return 0


def cmd_align_corpus(args: argparse.Namespace) -> int:
    from translator.eflomal_baseline import align_corpus

    print(json.dumps(align_corpus(Path(args.data), Path(args.out) if args.out else None)))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from translator.bench import run

    return run(args)


def add_tls_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """`--tls` and `--tls-ca FILE` (default $TRANSLATOR_TLS_CA) of the commands that talk to a server."""
    p.add_argument("--tls", action="store_true", help=f"{prefix}connect with TLS, trusting the system's root CAs")
    p.add_argument("--tls-ca", metavar="FILE", default=os.environ.get("TRANSLATOR_TLS_CA") or None,
                   help=f"{prefix}connect with TLS, trusting the PEM root certificates in FILE "
                        "(implies --tls; env TRANSLATOR_TLS_CA)")  # fmt: skip


def _add_decode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model bundle directory (default: the shipped model)")
    p.add_argument("--beam", type=_positive_int, default=5, help="beam size; 1 = greedy (default 5)")
    p.add_argument("--length-penalty", type=float, default=1.0)
    p.add_argument("--max-length-ratio", type=float, default=2.0)
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--max-input-tokens", type=_positive_int, default=256,
                   help="longer inputs are refused (default 256)")  # fmt: skip
    p.add_argument("--threads", type=_nonnegative_int, default=0, help="CPU threads (default 0: all cores)")
    p.add_argument("--engine", choices=["auto", "torch", "onnx"], default="auto",
                   help="auto: onnx if the bundle has ONNX graphs, else torch")  # fmt: skip
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--variant", choices=["fp32", "int8", "fp16"],
                   help="ONNX graphs (default: fp16 on CUDA, else fp32 if exported, else int8)")  # fmt: skip
    p.add_argument("--no-verbatim", dest="verbatim", action="store_false",
                   help="translate URLs, numbers, emoji, quoted names and unknown-script words too, and text in "
                        "capitals as it is (default: copy them through; see translator/verbatim.py)")  # fmt: skip
    p.add_argument("--no-clauses", dest="clauses", action="store_false",
                   help="translate a long sentence in one piece (default: clause by clause, as the model drops "
                        "the end of sentences much longer than its captions; see translator/clauses.py)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="translator", description="English->French translation")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logs, and the stack trace of an unexpected failure")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="download or copy Multi30k task 1 and verify it")
    p.add_argument("--from", dest="source", help="local directory with the *.gz files instead of downloading")
    p.add_argument("--out", default="data/multi30k")
    p.add_argument("--no-verify-checksum", action="store_true")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train a model (resumes if the output directory has a checkpoint)")
    p.add_argument("--config", default="multi30k", help="preset name (tiny, multi30k) or YAML file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", help="run directory (default runs/<config>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("translate", help="translate text, or a file of any size as a resumable batch job")
    p.add_argument("text", nargs="*", help="texts to translate (default: stdin, one per line)")
    p.add_argument("-i", "--input", help="input file (.gz: gzip): a streaming, resumable batch job (-: stdin)")
    p.add_argument("-o", "--output", help="output file (default or -: stdout; .gz: gzip); with -i FILE the job is "
                   "resumable")  # fmt: skip
    # the defaults of the -i FILE options are None here and set in cmd_translate (_BATCH_DEFAULTS),
    # which refuses the ones given explicitly without -i
    g = p.add_argument_group("batch jobs (-i FILE)")
    g.add_argument("--format", choices=["text", "jsonl"], help="text: one sentence per line (default)")
    g.add_argument("--text-field", help="jsonl: field with the text (default text)")
    g.add_argument("--id-field", help="jsonl: id field (default id), added as the line number if missing")
    g.add_argument("--output-field", help="jsonl: the translation's field (default translation)")
    g.add_argument("--score-field", help="jsonl: also write each translation's score in this field "
                   "(length-normalised log-probability, higher is better; null for a line that "
                   "--overlong skip skipped)")  # fmt: skip
    g.add_argument("--window", type=_positive_int, help="lines sorted and committed together (default 10000)")
    g.add_argument("--overlong", choices=["split", "refuse", "skip"],
                   help="a line over --max-input-tokens: split into sentences/word chunks (default), "
                        "refuse (error naming the line) or skip (empty output line)")  # fmt: skip
    g.add_argument("--errors", choices=["strict", "replace"], default="strict",
                   help="invalid UTF-8 (in -i FILE, stdin or a text): an error naming the line (default), "
                        "or replace with U+FFFD")  # fmt: skip
    g.add_argument("--workers", type=_positive_int,
                   help="worker processes, each with its own engine and --threads (default: cores // workers); "
                        "with --server: concurrent streams")  # fmt: skip
    g.add_argument("--backend", choices=["local", "ray"],
                   help="ray: --workers Ray actors (the 'ray' extra; $RAY_ADDRESS or a local instance)")  # fmt: skip
    g.add_argument("--max-in-flight", type=_positive_int, help="--server: unanswered texts per stream (default 32)")
    g.add_argument("--restart", action="store_true", default=None,
                   help="discard an unfinished job's journal (OUT.job/)")  # fmt: skip
    g.add_argument("--quiet", action="store_true", default=None, help="no progress bar and no summary on stderr")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per text: source, translation, score and the --n-best hypotheses "
                        "with their scores and log-probabilities")  # fmt: skip
    p.add_argument("--n-best", type=_positive_int, default=1,
                   help="hypotheses per text in --json output, best first (at most --beam; default 1)")  # fmt: skip
    p.add_argument("--server", metavar="HOST:PORT", help="translate with a running translation server (gRPC)")
    p.add_argument(
        "--api-key", default=os.environ.get("TRANSLATOR_API_KEY"), help="for --server (env TRANSLATOR_API_KEY)"
    )
    add_tls_args(p, "for --server: ")
    _add_decode_args(p)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("evaluate", help="BLEU and chrF of a model on a test set (sacreBLEU)")
    p.add_argument("--src", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--output", help="also write the translations here")
    _add_decode_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="export ONNX graphs into a model bundle")
    p.add_argument("--model", required=True, help="model bundle directory")
    p.add_argument("--variants", default="fp32,int8,fp16", help="comma-separated: fp32, int8, fp16 (default all)")
    p.add_argument("--int8-rows", action="store_true",
                   help="int8: quantize activations row by row, so that a translation does not depend on what it "
                   "is batched with (1.1-1.3x the time; default: one scale per tensor)")  # fmt: skip
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("convert-ct2", help="convert a bundle to a CTranslate2 model (the baseline engine)")
    p.add_argument("--model", required=True, help="model bundle directory")
    p.add_argument("--out", required=True, help="CTranslate2 model directory to write")
    p.add_argument("--quantization", help="int8, int8_float32, float16, ... (default: keep float32)")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=cmd_convert_ct2)

    from translator.bench import add_arguments as add_bench_arguments

    p = sub.add_parser("bench", help="speed, memory and BLEU of every engine against CTranslate2 int8")
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)

    from translator.eflomal_baseline import GUIDE_RUNS
    from translator.links import DEFAULT_METHOD, DEFAULT_THRESHOLD, FORMATS, METHODS

    p = sub.add_parser("align", help="word alignments from cross-attention, one line per sentence pair")
    p.add_argument("--src", required=True, help="source file, one sentence per line")
    p.add_argument("--tgt", help="target file, line-aligned with --src (default: translate the source first)")
    p.add_argument("--out", help="output file (default stdout)")
    p.add_argument("--format", choices=FORMATS, default="pharaoh", help="pharaoh: 0-based i-j, source first")
    p.add_argument("--method", choices=[*METHODS, "auto"],
                   help=f"how links are read from the attention (default {DEFAULT_METHOD}; with --guide-corpus "
                        "auto: the one that agrees best with the eflomal runs, chosen without gold links)")  # fmt: skip
    p.add_argument("--layer", default="default", help="decoder layer, comma-separated layers, mean or default")
    p.add_argument("--head", default="mean", help="attention head or mean (default)")
    p.add_argument("--threshold", type=_unit_interval, default=DEFAULT_THRESHOLD,
                   help="for --method threshold, in (0, 1]")  # fmt: skip
    p.add_argument("--plot", metavar="DIR", help="also write a heatmap PNG per pair and an HTML report DIR/index.html")
    p.add_argument("--tokenized", action="store_true",
                   help="the files are tokenized alignment data (lowercased, French contractions split, as the "
                        "Hansards pairs): align their natural form, report links over the given tokens")  # fmt: skip
    p.add_argument("--adapt-steps", type=int, default=0,
                   help="first train a copy of the model N steps on the pairs themselves, as statistical "
                        "aligners fit the sentences they align (torch engine; with --tgt)")  # fmt: skip
    p.add_argument(
        "--guide-corpus",
        metavar="DIR",
        help="guided adaptation: also train the alignment head on eflomal links of the pairs, "
        "aligned together with DIR/train.{en,fr}.gz (needs eflomal, --tgt and --adapt-steps)",
    )
    p.add_argument("--guide-runs", type=int, default=GUIDE_RUNS,
                   help="eflomal runs whose majority vote is the guide (its sampler is randomised; "
                        f"default {GUIDE_RUNS})")  # fmt: skip
    _add_decode_args(p)
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("aer", help="precision, recall and AER of Pharaoh alignments against NAACL gold")
    p.add_argument("--gold", required=True, help="NAACL-2003 gold: sentence src_pos tgt_pos [S|P], 1-based")
    p.add_argument("--hyp", required=True, help="Pharaoh alignments, one line per sentence")
    p.add_argument("--src", help="source text, to check links against the word counts (with --tgt)")
    p.add_argument("--tgt", help="target text")
    p.set_defaults(func=cmd_aer)

    p = sub.add_parser("align-baseline", help="eflomal word alignments (statistical baseline), Pharaoh lines")
    p.add_argument("--src", required=True, help="source file, whitespace-tokenized, one sentence per line")
    p.add_argument("--tgt", required=True, help="target file, line-aligned with --src")
    p.add_argument("--corpus-src", help="extra training corpus aligned together with the pairs (.gz allowed)")
    p.add_argument("--corpus-tgt", help="its target side")
    p.add_argument("--expand-contractions", action="store_true",
                   help="corpus French: du -> de le, des -> de les, l' -> le, ... (as in the Hansards)")  # fmt: skip
    p.add_argument("--out", help="output file (default stdout)")
    p.set_defaults(func=cmd_align_baseline)

    p = sub.add_parser("align-corpus", help="eflomal alignments of a training split for guided alignment")
    p.add_argument("--data", required=True, help="data directory with train.en.gz and train.fr.gz")
    p.add_argument("--out", help="output file (default DATA/train.align)")
    p.set_defaults(func=cmd_align_corpus)

    from server.config import build_parser as serve_parser
    from server.loadtest import build_parser as loadtest_parser

    p = sub.add_parser("serve", parents=[serve_parser()], add_help=False, help="run the gRPC translation server")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("loadtest", parents=[loadtest_parser()], add_help=False, help="load-test a running server")
    p.set_defaults(func=cmd_loadtest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except TranslatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory: use a smaller --batch-size (or fewer --workers, a smaller --window)",
              file=sys.stderr)  # fmt: skip
        return 1
    except Exception as exc:  # a failure inside a library (ONNX Runtime, torch) or a bug: one line, unless -v
        if args.verbose:
            raise
        print(f"error: {failure(exc)} (unexpected; rerun with -v for the stack trace)", file=sys.stderr)
        return 1


def failure(exc: BaseException) -> str:
    """An unexpected exception in one line: its type, and the last line of its message
    (ONNX Runtime's messages end with the reason after the code location)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = lines[-1] if lines else ""
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
