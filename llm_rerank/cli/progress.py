"""A minimal progress bar on stderr (no dependency), quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``Progress(total, "rerank")``; call ``advance()`` per item and ``close()`` at the end."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label, self.done = total, label, 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.started = time.perf_counter()

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self.enabled:
            width = 30
            filled = width * self.done // max(self.total, 1)
            elapsed = time.perf_counter() - self.started
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:6.1f}s {note}"
            )
            self.stream.flush()

    def note(self, line: str) -> None:
        """A line of its own (a warning) that the bar does not overwrite."""
        self.stream.write(("\r\033[K" if self.enabled else "") + line + "\n")
        self.stream.flush()

    def close(self, summary: str) -> None:
        if self.enabled:
            self.stream.write("\n")
        self.stream.write(summary + "\n")
