"""One canonical home per public name (docs/architecture.md, "Homes and facades").

A public module is a module whose dotted path has no private (underscored) part and that has an `__all__`. Every
object a public module exports has one home: the class or function is defined in one module, and its home is the
public module on that module's own path that exports it, nearest the package (`sentembed.models` for `Pooling`,
defined in `sentembed.models.pooling`; `sentembed.similarity` for `cos_sim`, defined in the private
`sentembed.similarity._functions`). Where no module on that path lists it (packages not yet converted), the home is
the public module that defines it.

Any other public module that exports the object must be the top-level `sentembed` (the short path for the main
classes) or a declared compatibility facade: a module that mirrors a sentence-transformers import path and
re-exports names whose home is elsewhere (FACADES in test_layout.py). Names defined on the ground floor
(`sentembed.common`) may also be exported by other packages (each feature exports the errors it raises, the backend
its thread helpers).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

import pytest

import sentembed
from tests.architecture.test_layout import FACADES, private_parts


@functools.cache
def public_modules() -> dict[str, object]:
    """Every public module with an `__all__`, by name."""
    names = ["sentembed", *(info.name for info in pkgutil.walk_packages(sentembed.__path__, prefix="sentembed."))]
    modules = {name: importlib.import_module(name) for name in names if not private_parts(name)}
    return {name: module for name, module in modules.items() if hasattr(module, "__all__")}


@functools.cache
def exports() -> dict[int, tuple[object, list[tuple[str, str]]]]:
    """Each exported object (by identity), with every (module, name) that exports it."""
    found: dict[int, tuple[object, list[tuple[str, str]]]] = {}
    for module_name, module in public_modules().items():
        for name in module.__all__:
            value = getattr(module, name)
            found.setdefault(id(value), (value, []))[1].append((module_name, name))
    return found


def defined_here(value: object) -> str | None:
    """The module that defines `value`, when it is one of our classes or functions."""
    if inspect.isclass(value) or inspect.isfunction(value):
        module = value.__module__
        return module if module.startswith("sentembed.") else None
    return None


def public_path(module: str) -> str:
    """`module` without its private tail: the public module (or package) that holds it."""
    parts = module.split(".")
    while private_parts(".".join(parts)):
        parts.pop()
    return ".".join(parts)


def on_path(exporter: str, module: str) -> bool:
    return exporter != "sentembed" and (module == exporter or module.startswith(exporter + "."))


def home_of(value: object, exporters: list[str]) -> str | None:
    """The canonical home of `value` (see the module docstring); None for constants and other packages' objects."""
    defining = defined_here(value)
    if defining is None:
        return None
    candidates = [exporter for exporter in exporters if on_path(exporter, defining)]
    return min(candidates, key=len) if candidates else public_path(defining)


def test_the_facades_exist_and_are_public():
    modules = public_modules()
    assert not [name for name in FACADES if name not in modules], "a facade that is not a public module"


def test_every_public_name_has_one_home():
    strays = []
    for value, pairs in exports().values():
        exporters = sorted({module for module, _ in pairs})
        home = home_of(value, exporters)
        defining = defined_here(value)
        if home is None:
            # A constant or another package's object: at most one exporter besides the facades, `sentembed`, and
            # the ground floor (whose names the features may export).
            owners = [m for m in exporters if m != "sentembed" and m not in FACADES]
            if len(owners) > 1 and not any(m.startswith("sentembed.common.") for m in owners):
                strays.append(f"{pairs[0][1]}: exported by {owners}")
            continue
        if home.startswith("sentembed.common."):
            continue
        assert defining is not None
        extra = [m for m in exporters if m != "sentembed" and m not in FACADES and not on_path(m, defining)]
        if extra:
            strays.append(f"{pairs[0][1]} (home {home}): also exported by {extra}")
        if home not in exporters and home != defining:
            strays.append(f"{pairs[0][1]}: defined in private {defining}, but {home} does not export it")
    assert not strays, "public names exported away from their home by a module that is not a facade:\n" + "\n".join(
        sorted(strays)
    )


@pytest.mark.parametrize("facade", sorted(FACADES))
def test_each_facade_says_it_re_exports_and_names_the_homes(facade):
    module = importlib.import_module(facade)
    doc = module.__doc__ or ""
    homes = set()
    for name in module.__all__:
        value = getattr(module, name)
        home = home_of(value, [exporter for exporter, _ in exports()[id(value)][1]])
        if home is not None and home != facade and not on_path(facade, defined_here(value) or ""):
            homes.add(home)
    assert "compatibility" in doc.lower(), f"{facade}'s docstring does not say it is a compatibility facade"
    missing = sorted(home for home in homes if f"`{home}`" not in doc)
    assert not missing, f"{facade}'s docstring does not name the canonical home(s) {missing}"
