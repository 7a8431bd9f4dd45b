"""The type check's settings (pyproject.toml [tool.mypy]): the modules it does not yet hold to their types name
real modules, and their list only shrinks."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[2]
# How many modules were exempt when the type check went into CI; fixing one lowers this number.
MOST_EXEMPT_MODULES = 72


def mypy_settings() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]


def exempt_modules() -> list[str]:
    return [
        module
        for override in mypy_settings().get("overrides", [])
        if override.get("ignore_errors")
        for module in override["module"]
    ]


def source_of(module: str) -> list[Path]:
    base = ROOT / "src" / Path(*module.split("."))
    return [path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()]


def test_the_check_covers_the_whole_package():
    settings = mypy_settings()
    assert settings["files"] == ["src/sentembed"]
    assert settings["check_untyped_defs"] is True


def test_every_exempt_module_exists():
    stale = [module for module in exempt_modules() if not source_of(module)]
    assert not stale, f"not modules of src/ (remove them from [tool.mypy] overrides): {stale}"


def test_the_exempt_list_only_shrinks():
    modules = exempt_modules()
    assert len(modules) == len(set(modules)), "a module is listed twice"
    assert len(modules) <= MOST_EXEMPT_MODULES, (
        f"{len(modules)} modules exempt from the type check, more than {MOST_EXEMPT_MODULES}: fix the new module's "
        "types instead of listing it"
    )
