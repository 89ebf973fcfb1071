"""Make the benchmark's `chat_load` package importable, as `bench/run.py` does for itself."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
