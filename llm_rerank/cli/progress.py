"""The commands' progress bar: tqdm on stderr, shown in terminals and notebooks, quiet when
stderr is redirected (a log file or a pipe keeps only the warnings and the summary).

>>> import io
>>> bar = progress_bar(2, "rerank", stream=io.StringIO())
>>> bar.disable
True
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm


def progress_bar(total: int, label: str, stream: TextIO | None = None) -> tqdm:
    """A tqdm bar of ``total`` queries; write warnings through ``bar.write(line)`` so the bar
    does not overwrite them."""
    from tqdm.auto import tqdm

    stream = stream or sys.stderr
    shown = stream.isatty() or "ipykernel" in sys.modules
    return tqdm(total=total, desc=label, unit="query", file=stream, disable=not shown,
                dynamic_ncols=True)
