"""The importer's tests share the command runner (tests/commands) and the hand-built torch models
(tests/test_against_torch.py): both folders on the import path."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS, TESTS / "commands"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
