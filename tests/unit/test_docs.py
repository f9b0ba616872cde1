"""The docs name only options and make targets that exist."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from translator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "server" / "README.md", *sorted((ROOT / "reports").glob("*.md"))]
# "translator CMD ..." up to the end of its code span, table cell, comment or shell operator
COMMAND = re.compile(r"translator ([a-z][a-z0-9-]*)((?:[^`|\n#;&]|\\\|)*)")
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def doc_command_flags(text: str, commands: set[str]) -> list[tuple[int, str, str]]:
    """(line, subcommand, flag) of every flag written after `translator SUBCOMMAND`."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in COMMAND.finditer(line):
            if m.group(1) in commands:
                found += [(n, m.group(1), flag) for flag in FLAG.findall(m.group(2))]
    return found


def test_the_scanner_finds_flags_in_code_spans_and_table_cells() -> None:
    text = "run `translator translate -i IN --beam 5` | `translator align --src F \\| x` # --not-this\n"
    assert doc_command_flags(text, {"translate", "align"}) == [
        (1, "translate", "-i"),
        (1, "translate", "--beam"),
        (1, "align", "--src"),
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_flags_exist(doc: Path) -> None:
    subs = _subcommands()
    unknown = [
        f"{doc.name}:{n}: translator {cmd} {flag}"
        for n, cmd, flag in doc_command_flags(doc.read_text(encoding="utf-8"), set(subs))
        if flag not in subs[cmd]._option_string_actions
    ]
    assert not unknown


def test_documented_make_targets_exist() -> None:
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))
    mention = re.compile(r"(?:^|`)make ([a-z][a-z0-9-]*)", re.M)
    named = {t for doc in DOCS for t in mention.findall(doc.read_text(encoding="utf-8"))}
    assert named and named <= targets, named - targets
