"""The architecture as a contract: the import-linter rules in pyproject.toml hold.

Layers (shells over tasks over rooms over shared services), rooms independent of each other,
no import cycles inside a package, and shells that use the public API only. A change that
breaks one fails here, with import-linter's explanation of the offending import chain.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        found = shutil.which("lint-imports")
        if found is None:
            pytest.fail("import-linter is not installed: scripts/setup.sh all,dev installs it")
        lint = Path(found)
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
