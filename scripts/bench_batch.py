"""Batch-job benchmark: `translator translate -i IN -o OUT` on a big file, against offline translation.

    python scripts/bench_batch.py [--lines 200000] [--workers 1] [--window 10000] [--out reports/batch_bench]

Builds an input of `--lines` lines by repeating and shuffling (seeded)
test_2016_flickr.en, runs the batch job on the default model (ONNX int8, beam 5)
in a subprocess, and measures its wall time, sentences/s and peak memory:
`ru_maxrss` of the children (the largest process; with workers, the largest of
them) and the sampled peak of the whole process tree's RSS (job + workers,
/proc VmRSS every 0.2 s). Then it translates the first `--offline-lines` lines
in this process with one `Translator.translate` call (same engine, variant,
beam and thread count) and reports the batch/offline throughput ratio.
Writes `<out>.md` and `<out>.json` with the exact commands.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_input(source: Path, lines: int, dest: Path, seed: int) -> None:
    with gzip.open(source, "rt", encoding="utf-8") as f:
        base = [line.rstrip("\n") for line in f]
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < lines:
        block = base[:]
        rng.shuffle(block)
        out.extend(block)
    dest.write_text("".join(line + "\n" for line in out[:lines]), encoding="utf-8")


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, found = [pid], []
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Peak of the summed VmRSS of a process tree, and the largest VmHWM seen, every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_tree_kb = 0
        self.peak_hwm_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids = _tree(self.pid)
            self.peak_tree_kb = max(self.peak_tree_kb, sum(_status_kb(p, "VmRSS") for p in pids))
            self.peak_hwm_kb = max([self.peak_hwm_kb, *(_status_kb(p, "VmHWM") for p in pids)])
            self.stop.wait(self.interval)


def run_job(cmd: list[str]) -> dict[str, float | str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"the batch job failed ({proc.returncode}):\n{stderr[-3000:]}")
    summary = next((line for line in stderr.splitlines() if line.startswith("done:")), "")
    m = re.search(r"in ([\d.]+) s", summary)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall_seconds": wall,
        "job_seconds": float(m.group(1)) if m else wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "ru_maxrss_mb": usage.ru_maxrss / 1024,
        "peak_tree_rss_mb": sampler.peak_tree_kb / 1024,
        "peak_vmhwm_mb": sampler.peak_hwm_kb / 1024,
        "summary": summary,
    }


def offline(args: argparse.Namespace, path: Path, threads: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from translator.inference import Translator

    texts = path.read_text(encoding="utf-8").split("\n")[: args.offline_lines]
    variant = args.variant if args.engine == "onnx" else None
    t = Translator(args.model, engine=args.engine, variant=variant, threads=threads)
    t0, c0 = time.perf_counter(), time.process_time()
    t.translate(texts, beam_size=args.beam)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"lines": len(texts), "seconds": seconds, "cpu_seconds": cpu, "sentences_per_s": len(texts) / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--offline-lines", type=int, default=2000, help="lines translated offline for the ratio")
    ap.add_argument("--source", default="data/multi30k/test_2016_flickr.en.gz")
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--engine", default="onnx", choices=["onnx", "torch"])
    ap.add_argument("--variant", default="int8", help="ONNX variant (default int8)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--window", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="reports/batch_bench", help="writes OUT.md and OUT.json")
    ap.add_argument("--keep", action="store_true", help="keep the input and output files (printed)")
    args = ap.parse_args()
    source = ROOT / args.source
    if not source.is_file():
        sys.exit(f"{source} is missing: run `make data`")
    cores = os.cpu_count() or 1
    threads = max(cores // args.workers, 1)
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    inp, outp = work / "input.en", work / "output.fr"
    make_input(source, args.lines, inp, args.seed)
    translator = str(Path(sys.executable).with_name("translator"))
    variant = ["--variant", args.variant] if args.engine == "onnx" else []
    cmd = [translator, "translate", "--model", args.model, "--engine", args.engine, *variant,
           "--beam", str(args.beam), "--workers", str(args.workers), "--window", str(args.window),
           "--threads", str(threads), "-i", str(inp), "-o", str(outp)]  # fmt: skip
    # as recorded in the report: no paths of this machine
    shown = shlex.join(["translator", *cmd[1:-4], "-i", "input.en", "-o", "output.fr"])
    print("$", shlex.join(cmd), file=sys.stderr)
    job = run_job(cmd)
    job["summary"] = str(job["summary"]).replace(f"{work}/", "")  # no paths of this machine in the report
    n_out = sum(1 for _ in outp.open("rb"))
    assert n_out == args.lines, f"{n_out} output lines for {args.lines} input lines"
    off = offline(args, inp, threads)
    rate = args.lines / float(job["wall_seconds"])
    result = {
        "command": " ".join(["python", "scripts/bench_batch.py", *sys.argv[1:]]),
        "job_command": shown,
        "lines": args.lines,
        "workers": args.workers,
        "threads_per_worker": threads,
        "window": args.window,
        "engine": f"{args.engine} {args.variant if args.engine == 'onnx' else ''}".strip(),
        "beam": args.beam,
        "job": job,
        "sentences_per_s": rate,
        "offline": off,
        "ratio_vs_offline": rate / off["sentences_per_s"],
        # CPU time per sentence does not depend on how busy the machine is (wall time does)
        "cpu_ms_per_sentence": 1000 * float(job["cpu_seconds"]) / args.lines,
        "offline_cpu_ms_per_sentence": 1000 * off["cpu_seconds"] / off["lines"],
        "machine": {"cpus": cores, "python": platform.python_version(), "platform": platform.platform()},
    }
    table = [
        f"# Batch job benchmark: {args.lines} lines",
        "",
        f"Input: {args.source} repeated and shuffled (seed {args.seed}); model {args.model}, engine "
        f"{result['engine']}, beam {args.beam}, {args.workers} worker(s) x {threads} thread(s), "
        f"window {args.window}, {cores} CPUs.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| lines | {args.lines} |",
        f"| job wall time (s, process start to exit) | {job['wall_seconds']:.1f} |",
        f"| sentences/s (batch job, wall) | {rate:.1f} |",
        f"| sentences/s (offline `Translator.translate`, first {off['lines']:.0f} lines) "
        f"| {off['sentences_per_s']:.1f} |",
        f"| ratio batch / offline | {result['ratio_vs_offline']:.2f} |",
        f"| CPU ms per sentence: batch job (all processes, startup included) / offline "
        f"| {result['cpu_ms_per_sentence']:.1f} / {result['offline_cpu_ms_per_sentence']:.1f} |",
        f"| peak RSS, largest process (ru_maxrss of children, MB) | {job['ru_maxrss_mb']:.0f} |",
        f"| peak RSS, job + workers summed (sampled VmRSS, MB) | {job['peak_tree_rss_mb']:.0f} |",
        "",
        f"Job summary: `{job['summary']}`",
        "",
        "Commands:",
        "",
        "```",
        result["command"],
        shown,
        "```",
        "",
    ]
    out = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(str(x) for x in table))
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(str(x) for x in table))
    if args.keep:
        print(f"kept {inp} and {outp}", file=sys.stderr)
    else:
        inp.unlink()
        outp.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
