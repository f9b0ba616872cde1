"""The journal of a resumable batch job (see `translator.batch`): `OUT.job/` with
`job.json` (what the job is), one durable chunk file per committed window and its
atomic `.done` commit record; and `StdoutSink`, the non-resumable output to stdout."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from translator.batch_io import concatenate, is_gzip
from translator.bundle import atomic_write_bytes, fsync_dir
from translator.errors import TranslatorError

JOURNAL_VERSION = 1
COUNTERS = ("lines", "empty", "split", "skipped", "replaced")


class Journal:
    """The resumable state of a job writing `output` (see the module docstring)."""

    def __init__(self, output: Path, fingerprint: dict[str, Any]) -> None:
        self.output = output
        self.dir = output.with_name(output.name + ".job")
        self.fingerprint = fingerprint
        self._lock: Any = None

    def chunk(self, index: int) -> Path:
        return self.dir / f"chunk-{index:08d}.out"

    def marker(self, index: int) -> Path:
        return self.dir / f"chunk-{index:08d}.done"

    def open(self, restart: bool) -> dict[int, dict[str, int]]:
        """Lock the journal, check it belongs to this job; the committed windows and their counters."""
        try:
            if restart and self.dir.exists():
                shutil.rmtree(self.dir)
            self.dir.mkdir(exist_ok=True)  # the output's directory must exist: never created here
            self._lock = (self.dir / "lock").open("w")
        except OSError as exc:
            raise TranslatorError(f"cannot write the job journal {self.dir}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TranslatorError(f"another job is writing {self.output} (journal {self.dir} is locked)") from None
        job = self.dir / "job.json"
        if not job.is_file():
            for stale in self.dir.glob("chunk-*"):
                stale.unlink()
            atomic_write_bytes(job, (json.dumps({"version": JOURNAL_VERSION, **self.fingerprint}, indent=1)).encode())
            return {}
        try:
            old = json.loads(job.read_text())
        except (OSError, ValueError) as exc:
            raise TranslatorError(f"{job} is unreadable ({exc}); rerun with --restart to discard it") from None
        self._check(old)
        committed: dict[int, dict[str, int]] = {}
        for marker in sorted(self.dir.glob("chunk-*.done")):
            index = int(marker.stem.split("-")[1])
            record = json.loads(marker.read_text())
            chunk = self.chunk(index)
            if chunk.is_file() and chunk.stat().st_size == record["bytes"]:
                committed[index] = {k: int(record[k]) for k in COUNTERS}
        return committed

    def _check(self, old: dict[str, Any]) -> None:
        new = {"version": JOURNAL_VERSION, **self.fingerprint}
        changes = []
        if old.get("version") != new["version"]:
            changes.append(f"journal format {old.get('version')} (this is {JOURNAL_VERSION})")
        if old.get("input") != new["input"]:
            changes.append("the input file changed (size or SHA-256)")
        if old.get("model") != new["model"]:
            changes.append("the model changed")
        rules_changed = old.get("rules") != new.get("rules")
        if rules_changed:  # a journal from before the rules were recorded has none: rules 1

            def version(rules: Any) -> str:  # None: a server that does not say
                return "unknown" if rules is None else str(rules)

            changes.append(
                f"the translator's rules changed (version {version(old.get('rules', 1))} -> "
                f"{version(new.get('rules'))}): this version translates some sentences differently"
            )
        old_opts, new_opts = old.get("options", {}), new["options"]
        for key in sorted(set(old_opts) | set(new_opts)):
            if old_opts.get(key) != new_opts.get(key):
                changes.append(f"option {key}: {old_opts.get(key)!r} -> {new_opts.get(key)!r}")
        if changes:
            raise TranslatorError(
                f"{self.dir} holds an unfinished job with other settings: {'; '.join(changes)}. "
                + (
                    "Finish it with the translator version that began it"
                    if rules_changed
                    else "Rerun the original command to resume it"
                )
                + ", or add --restart to discard it"
            )

    def backlog(self) -> int:
        return 0

    def commit(self, index: int, data: bytes, counts: dict[str, int]) -> None:
        """Chunk file first (durable), then its commit record (atomic): the window is done."""
        atomic_write_bytes(self.chunk(index), data)
        atomic_write_bytes(self.marker(index), json.dumps({"bytes": len(data), **counts}).encode())

    def finish(self, windows: int) -> None:
        """Concatenate the chunks into OUT atomically; remove the journal."""
        partial = self.dir / "output.partial"
        concatenate((self.chunk(k) for k in range(windows)), partial, gz=is_gzip(self.output))
        os.replace(partial, self.output)
        fsync_dir(self.output.parent)
        self.close()
        shutil.rmtree(self.dir)

    def committed_any(self) -> bool:
        """Whether any window is committed (by this run or an earlier one)."""
        return self.dir.is_dir() and any(self.dir.glob("chunk-*.done"))

    def discard(self) -> None:
        """Remove the journal (a job that failed on its input before committing anything)."""
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class StdoutSink:
    """Without -o: windows go to stdout in order as soon as they are complete (not resumable)."""

    def __init__(self) -> None:
        self.next = 0
        self.waiting: dict[int, bytes] = {}

    def backlog(self) -> int:
        """Finished windows held back until the earlier ones are written."""
        return len(self.waiting)

    def commit(self, index: int, data: bytes, counts: dict[str, int]) -> None:
        self.waiting[index] = data
        try:
            while self.next in self.waiting:
                sys.stdout.buffer.write(self.waiting.pop(self.next))
                self.next += 1
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away (`... | head`): stop quietly, as the Python docs advise (Note on
            # SIGPIPE): point stdout at devnull so that the flush at exit does not fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            raise SystemExit(1) from None
