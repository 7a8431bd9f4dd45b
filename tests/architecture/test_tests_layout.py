"""The tests' own layout (docs/architecture.md, "Tests"): tests/ mirrors src/sentembed/ folder for folder, and
shared helpers are imported from tests/support, never from a conftest."""

from __future__ import annotations

import re
from pathlib import Path

import sentembed

SRC = Path(sentembed.__file__).parent
TESTS = Path(__file__).resolve().parents[1]
BENCHMARKS = TESTS.parent / "benchmarks"

# The folders of tests/ that mirror no package, as docs/architecture.md lists them: tests of concerns that cut
# across packages, and the helpers' home.
CROSS_CUTTING = {"architecture", "security", "gpu", "support"}

CONFTEST_IMPORT = re.compile(r"^\s*(from\s+[\w.]*\bconftest\b|import\s+[\w.]*\bconftest\b)", re.MULTILINE)


def folders_with_modules(root: Path) -> set[Path]:
    """Every folder below `root` that holds a Python module, relative to `root`."""
    return {path.parent.relative_to(root) for path in root.rglob("*.py")} - {Path(".")}


def test_every_test_folder_mirrors_a_source_folder():
    strays = sorted(
        str(folder)
        for folder in folders_with_modules(TESTS)
        if folder.parts[0] not in CROSS_CUTTING and not (SRC / folder).is_dir()
    )
    assert not strays, (
        f"test folders without a src/sentembed/ folder of the same path: {strays}; put the tests beside the "
        "package they test, or list a cross-cutting folder in CROSS_CUTTING and docs/architecture.md"
    )


def test_the_cross_cutting_folders_exist_and_mirror_no_package():
    top_level = {folder.parts[0] for folder in folders_with_modules(TESTS)}
    assert top_level >= CROSS_CUTTING, f"listed but missing: {CROSS_CUTTING - top_level}"
    assert not [name for name in CROSS_CUTTING if (SRC / name).exists()], "a package folder is not cross-cutting"


def test_no_module_imports_a_conftest():
    modules = [*TESTS.rglob("*.py"), *BENCHMARKS.glob("*.py")]
    importers = sorted(
        str(path.relative_to(TESTS.parent))
        for path in modules
        if CONFTEST_IMPORT.search(path.read_text(encoding="utf-8"))
    )
    assert not importers, f"import shared helpers from tests/support instead of a conftest: {importers}"
