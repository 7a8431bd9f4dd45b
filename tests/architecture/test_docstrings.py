"""Every public callable explains itself in one style (Google: `Args:`, `Returns:`, `Raises:`).

The walk covers the `__all__` of each public module (those pinned in test_layout.py, and every top-level
package or module with an `__all__`): every function, every class, the class's `__init__` and its public
methods, as far as our own code defines them (what a class inherits from torch, transformers or another third
party is theirs to document). For each it asserts: a docstring; every parameter but self/cls/*args/**kwargs
named under `Args:` (a class may name its `__init__` arguments in its own docstring, a dataclass its fields
under `Attributes:`), and no name there that is not a parameter; `Returns:` (or `Yields:`) when the callable
returns something other than None.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import pkgutil
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import sentembed
from tests.architecture.test_layout import PUBLIC_MODULES

SECTION = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Z][A-Za-z ]*):\s*$")
ENTRY = re.compile(r"^(?P<name>\*{0,2}\w+)\s*(\([^)]*\))?\s*:")
RETURNS_NOTHING = {"None", "NoReturn", "Never", "typing.NoReturn", "typing.Never"}

# Callables not documented yet, by the public path the walk first reaches them at. This list only shrinks: the test
# fails when an entry here is documented (remove it then), and any callable not listed must pass.
NOT_YET_DOCUMENTED: set[str] = set()


@dataclass(frozen=True)
class PublicCallable:
    """One public callable to check: its public path, the function, and the docstrings that may document it."""

    path: str
    function: object
    docstrings: tuple[str, ...]
    is_init: bool = False
    owner: type | None = None


def is_ours(obj: object) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith("sentembed")


def own_docstring(cls: type) -> str:
    """The class's own docstring, not one inherited from a base nor the signature a dataclass writes in."""
    doc = cls.__dict__.get("__doc__") or ""
    return "" if doc.startswith(f"{cls.__name__}(") else inspect.cleandoc(doc)


def method_docstring(cls: type, name: str) -> str:
    """The method's docstring, or the one of the method it overrides in one of our own classes (along `cls`'s
    MRO, as help() finds it)."""
    for owner in cls.__mro__:
        member = owner.__dict__.get(name)
        if member is None:
            continue
        doc = getattr(inspect.unwrap(plain_function(member) or member), "__doc__", None)
        if doc:
            return inspect.cleandoc(doc) if is_ours(owner) else ""
    return ""


def plain_function(member: object) -> object | None:
    """The function behind a class member (method, staticmethod, classmethod), None for properties and data."""
    if isinstance(member, staticmethod | classmethod):
        member = member.__func__
    return member if inspect.isfunction(member) or inspect.isfunction(inspect.unwrap(member)) else None


def init_docstrings(owner: type) -> tuple[str, ...]:
    """Where `owner.__init__`'s arguments may be documented: the class's own docstring, and for a dataclass also
    those of our dataclasses it extends (they declare the fields it inherits)."""
    if not dataclasses.is_dataclass(owner):
        return (own_docstring(owner),)
    return tuple(own_docstring(base) for base in owner.__mro__ if is_ours(base) and dataclasses.is_dataclass(base))


def defining_class(cls: type, name: str) -> type | None:
    """The class of the MRO that defines `name`, None for what only the metaclass has."""
    return next((owner for owner in cls.__mro__ if name in owner.__dict__), None)


def class_members(path: str, cls: type) -> Iterator[PublicCallable]:
    """The class, its `__init__` and its public methods, where our code defines them."""
    yield PublicCallable(path, cls, (own_docstring(cls),))
    for name in sorted({name for owner in cls.__mro__ if is_ours(owner) for name in vars(owner)}):
        if name.startswith("_") and name != "__init__":
            continue
        owner = defining_class(cls, name)
        if owner is None or not is_ours(owner) or (function := plain_function(owner.__dict__[name])) is None:
            continue
        if name == "__init__":
            docstrings = (method_docstring(cls, name), *init_docstrings(owner))
            yield PublicCallable(f"{path}.__init__", function, docstrings, is_init=True, owner=owner)
        else:
            yield PublicCallable(f"{path}.{name}", function, (method_docstring(cls, name),))


def public_modules() -> list[str]:
    """The modules pinned in test_layout.py, and every top-level package or module of ours that has an `__all__`."""
    top_level = [f"sentembed.{info.name}" for info in pkgutil.iter_modules(sentembed.__path__) if info.name[0] != "_"]
    found = [name for name in top_level if hasattr(importlib.import_module(name), "__all__")]
    return sorted(set(PUBLIC_MODULES) | set(found), key=lambda name: (name not in PUBLIC_MODULES, name))


def public_callables() -> list[PublicCallable]:
    """Each public callable once (a name exported by several modules is checked where the walk first meets it)."""
    found: dict[int, PublicCallable] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in sorted(module.__all__):
            obj = getattr(module, name)
            if name.startswith("_") or not is_ours(obj):
                continue
            path = f"{module_name}.{name}"
            if inspect.isclass(obj):
                members = class_members(path, obj)
            elif inspect.isfunction(inspect.unwrap(obj)):
                members = iter([PublicCallable(path, obj, (inspect.cleandoc(obj.__doc__ or ""),))])
            else:
                continue
            for member in members:
                found.setdefault(id(member.function), member)
    return list(found.values())


def section_entries(docstring: str, *titles: str) -> set[str]:
    """The names listed in the docstring's sections of these titles (`name:` or `name (type):` lines)."""
    names, lines, index = set(), docstring.splitlines(), 0
    while index < len(lines):
        header = SECTION.match(lines[index])
        index += 1
        if not header or header["name"] not in titles:
            continue
        entry_indent = None
        while index < len(lines) and (not lines[index].strip() or indent_of(lines[index]) > len(header["indent"])):
            line = lines[index]
            index += 1
            if not line.strip():
                continue
            entry_indent = indent_of(line) if entry_indent is None else entry_indent
            entry = ENTRY.match(line.strip())
            if indent_of(line) == entry_indent and entry:
                names.add(entry["name"])
    return names


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def has_section(docstring: str, *titles: str) -> bool:
    return any((match := SECTION.match(line)) and match["name"] in titles for line in docstring.splitlines())


def named_parameters(function: object) -> tuple[list[str], set[str]]:
    """(the parameters to document, the names of its *args / **kwargs)."""
    parameters = inspect.signature(function).parameters.values()
    variadic = {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
    named = [p.name for p in parameters if p.kind not in variadic and p.name not in {"self", "cls"}]
    return named, {p.name for p in parameters if p.kind in variadic}


def declared_by_us(cls: type, name: str) -> bool:
    """Whether a dataclass field (an `__init__` parameter the dataclass wrote) is declared by one of our classes,
    not inherited from a third party's dataclass (transformers' TrainingArguments has a hundred)."""
    for owner in cls.__mro__:
        if name in vars(owner).get("__annotations__", {}):
            return is_ours(owner)
    return True


def returns_a_value(function: object) -> bool:
    """From the return annotation, or where there is none from a `return <value>` / `yield` in the body."""
    annotation = inspect.signature(function).return_annotation
    if annotation is not inspect.Signature.empty:
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        return text not in RETURNS_NOTHING
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(function))))
    except (OSError, TypeError, SyntaxError):
        return False
    return any(returns_in(node) for node in tree.body)


def returns_in(function: ast.AST) -> bool:
    """A `return <value>` or a yield in this function's own body (not in the functions it defines)."""
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.Return) and not is_none(node.value):
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def is_none(value: ast.expr | None) -> bool:
    """A bare `return` or `return None`."""
    return value is None or (isinstance(value, ast.Constant) and value.value is None)


def problems_of(member: PublicCallable) -> list[str]:
    """What the callable's docstrings lack, each as a short phrase (empty: documented)."""
    docstring = "\n\n".join(doc for doc in member.docstrings if doc)
    if not docstring:
        return ["no docstring"]
    if inspect.isclass(member.function):
        return []
    named, variadic = named_parameters(member.function)
    if member.is_init and dataclasses.is_dataclass(member.owner):
        named = [name for name in named if declared_by_us(member.owner, name)]
    documented = section_entries(docstring, "Args")
    described = documented | (section_entries(docstring, "Attributes") if member.is_init else set())
    problems = []
    if missing := [name for name in named if name not in described]:
        problems.append(f"Args lacks {', '.join(missing)}")
    allowed = set(named) | variadic | {f"*{name}" for name in variadic} | {f"**{name}" for name in variadic}
    if unknown := sorted(documented - allowed):
        problems.append(f"Args names what is not a parameter: {', '.join(unknown)}")
    if not member.is_init and returns_a_value(member.function) and not has_section(docstring, "Returns", "Yields"):
        problems.append("no Returns")
    return problems


@functools.cache
def offenders() -> dict[str, list[str]]:
    """Each undocumented public callable with what it lacks."""
    return {member.path: problems for member in public_callables() if (problems := problems_of(member))}


def test_every_public_callable_documents_its_arguments_and_return():
    found = offenders()
    new = {path: problems for path, problems in found.items() if path not in NOT_YET_DOCUMENTED}
    report = "\n".join(f"{path}: {'; '.join(problems)}" for path, problems in sorted(new.items()))
    assert not new, f"{len(new)} public callables are not documented in Google style:\n{report}"


def test_the_not_yet_documented_list_only_shrinks():
    documented_now = sorted(NOT_YET_DOCUMENTED - set(offenders()))
    assert not documented_now, "documented now (or gone): remove from NOT_YET_DOCUMENTED:\n" + "\n".join(documented_now)


def test_the_check_reads_google_sections():
    def example(text: str, count: int, *rest: str, **options: object) -> int:
        """Count.

        Args:
            text: what to count in,
                over two lines.
            count (int): how many.
            **options: passed on.

        Returns:
            The count.
        """
        return count

    member = PublicCallable("example", example, (inspect.getdoc(example),))
    assert section_entries(inspect.getdoc(example), "Args") == {"text", "count", "**options"}
    assert problems_of(member) == []
    undocumented = PublicCallable("example", example, ("Count.\n\nArgs:\n    text: what.\n    size: extra.",))
    assert problems_of(undocumented) == [
        "Args lacks count",
        "Args names what is not a parameter: size",
        "no Returns",
    ]
