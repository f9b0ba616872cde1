"""Progress bars on stderr that stay readable in log files.

On a terminal, tqdm redraws one line with carriage returns. Redirected to a file
(`2> job.log`, a container's log), those carriage returns pile up into one endless
line; there `progress_bar` writes a plain line per update instead, at most every
`log_interval` seconds.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm


class _Lines:
    """A file for tqdm that turns each redraw into one whole line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, s: str) -> None:
        line = s.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(*, disable: bool = False, log_interval: float = 30.0, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr: redrawn in place on a terminal, else one line per `log_interval` s."""
    stream = sys.stderr
    if stream.isatty():
        return tqdm(file=stream, disable=disable, dynamic_ncols=True, mininterval=0.5, **kwargs)
    return tqdm(file=_Lines(stream), disable=disable, mininterval=log_interval, ncols=100, **kwargs)
