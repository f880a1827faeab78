"""The code stays typed and free of dead names (docs: STYLE.md, "ruff and mypy clean")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_type_errors() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_finds_no_undefined_or_unused_names() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9",
                             "bot", "handlers", "models", "jobs", "bench", "tests"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
