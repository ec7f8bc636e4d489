"""``python -m llm_rerank.cli``: the ``llm-rerank`` command."""

import sys

from . import main

sys.exit(main())
