"""Kill -9 a batch job on the shipped model at random moments, rerun it, and compare the
output byte for byte with an uninterrupted run.

    python scripts/batch_resume_check.py --lines 3000 --kills 2 --out reports/batch_resume

The input repeats and shuffles test_2016_flickr; the job runs with `--window 250`.
Each kill comes at a random time after the journal has committed at least one window.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def job(src: Path, out: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "translator.cli", "translate", "-i", str(src), "-o", str(out), "--quiet",
            "--model", args.model, "--beam", str(args.beam), "--window", str(args.window)]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--data", default="data/multi30k")
    ap.add_argument("--lines", type=int, default=3000)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--window", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write OUT.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with gzip.open(Path(args.data) / "test_2016_flickr.en.gz", "rt", encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f]
    lines = [rng.choice(sentences) for _ in range(args.lines)]
    with tempfile.TemporaryDirectory() as tmp:
        src, ref, got = Path(tmp) / "in.txt", Path(tmp) / "ref.txt", Path(tmp) / "got.txt"
        src.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        t0 = time.perf_counter()
        subprocess.run(job(src, ref, args), check=True)
        seconds = time.perf_counter() - t0
        journal = got.with_name(got.name + ".job")
        kills = []
        for _ in range(args.kills):
            proc = subprocess.Popen(job(src, got, args))
            while not list(journal.glob("chunk-*.done")) and proc.poll() is None:
                time.sleep(0.05)
            time.sleep(rng.uniform(0, seconds / (args.kills + 1)))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills.append(len(list(journal.glob("chunk-*.done"))))
        subprocess.run(job(src, got, args), check=True)
        identical = got.read_bytes() == ref.read_bytes()
        journal_removed = not journal.exists()
    result = {
        "command": "python scripts/batch_resume_check.py " + shlex.join(sys.argv[1:]),
        "lines": args.lines,
        "windows": -(-args.lines // args.window),
        "committed_windows_at_each_kill": kills,
        "uninterrupted_seconds": round(seconds, 1),
        "byte_identical": identical,
        "journal_removed": journal_removed,
    }
    print(json.dumps(result))
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
