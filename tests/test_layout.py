"""The code's shape: the layers of docs/architecture.md hold (import-linter's contract in pyproject.toml, which
`make test` also runs), and modules stay small enough to read."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SOURCE = ROOT / "src" / "ganforge"
MAX_MODULE_LINES = 400
MAX_TRAINER_LINES = 350  # the images-and-vectors task, one step of which should read in one screen


def _lint_imports(source_root: Path) -> subprocess.CompletedProcess:
    """import-linter's check of pyproject.toml's contracts over the package in `source_root`."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    env = {"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(lint), "--no-cache", str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                          env=env, cwd=source_root, timeout=300)


def test_the_layers_hold_and_an_upward_import_breaks_them(tmp_path):
    assert _lint_imports(ROOT / "src").returncode == 0
    planted = tmp_path / "src"
    shutil.copytree(SOURCE, planted / "ganforge", ignore=shutil.ignore_patterns("__pycache__"))
    task = planted / "ganforge" / "training" / "task.py"
    task.write_text(task.read_text() + "\n\ndef _planted():\n    from ganforge.kinds import kind_of  # upward\n")
    broken = _lint_imports(planted)
    assert broken.returncode != 0
    assert "ganforge.training is not allowed to import ganforge.kinds" in broken.stdout, broken.stdout[-2000:]


def test_every_layer_is_named_in_the_contract():
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    named = {part.strip() for layer in contract["layers"] for part in layer.split("|")}
    present = {p.stem for p in SOURCE.iterdir() if (p.suffix == ".py" and p.stem != "__main__" and p.stem != "__init__")
               or (p.is_dir() and (p / "__init__.py").exists())}
    assert present == named, f"modules without a layer: {present - named}; layers without a module: {named - present}"


def test_modules_stay_short():
    lengths = {str(p.relative_to(SOURCE)): len(p.read_text().splitlines()) for p in SOURCE.rglob("*.py")}
    assert {name: n for name, n in lengths.items() if n > MAX_MODULE_LINES} == {}
    assert lengths["training/trainer.py"] <= MAX_TRAINER_LINES
