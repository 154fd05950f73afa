"""Every exported public function and class carries a numpydoc docstring (issue 17).

Checked, for each name a public package exports (its ``__all__``, or the public functions and classes a
module without ``__all__`` defines):

- functions and methods: a summary line, every parameter named under ``Parameters``, and a ``Returns`` or
  ``Yields`` section unless the return annotation is ``None``;
- classes: a summary line, every constructor parameter (dataclass field) named under ``Parameters`` or
  ``Attributes``, every fitted attribute (``self.name_ = ...``) named under ``Attributes``, the rules
  above for the public methods defined in goemobalance (``fit``, ``split``, ``to_dict``, ...), and a
  summary line on every public property;
- exceptions, constants and type aliases are skipped.

Cheap: imports and inspects only. ``python tests/test_docstrings.py`` lists every problem.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterator

import pytest

PACKAGES: tuple[str, ...] = (
    "goemobalance",
    "goemobalance.audit",
    "goemobalance.balance",
    "goemobalance.label",
    "goemobalance.labels",
    "goemobalance.leaks",
    "goemobalance.llm",
    "goemobalance.publish",
    "goemobalance.recipe",
    "goemobalance.schema",
    "goemobalance.sources",
    "goemobalance.text",
    "goemobalance.train",
)

_SECTION_RULE = re.compile(r"^-{3,}\s*$")
_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_][\w]*)*)\s*(?::.*)?$")
_FITTED = re.compile(r"\bself\.([a-z][A-Za-z0-9_]*_)\s*(?::[^=]+)?=[^=]")
_NO_RETURN = (None, "None", "NoReturn", inspect.Signature.empty)


def sections(doc: str) -> dict[str, list[str]]:
    """The lines of each numpydoc section of a (dedented) docstring, by section title."""
    lines = doc.splitlines()
    found: dict[str, list[str]] = {}
    current: str | None = None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and _SECTION_RULE.match(lines[i + 1]) and line.strip():
            current = line.strip()
            found[current] = []
        elif current is not None and not _SECTION_RULE.match(line):
            found[current].append(line)
    return found


def entry_names(lines: list[str]) -> set[str]:
    """The names a Parameters/Attributes section documents (unindented ``name : type`` lines)."""
    names: set[str] = set()
    for line in lines:
        if not line or line[0].isspace():
            continue
        match = _ENTRY.match(line.strip())
        if match:
            names.update(part.strip().lstrip("*") for part in match.group(1).split(","))
    return names


def exported(package: str) -> Iterator[tuple[str, object]]:
    """``(qualified name, object)`` for the functions and classes `package` exports."""
    module = importlib.import_module(package)
    if hasattr(module, "__all__"):
        names = list(module.__all__)
    else:
        names = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == package
        ]
    for name in names:
        obj = getattr(module, name)
        if inspect.isfunction(obj) or (inspect.isclass(obj) and not issubclass(obj, BaseException)):
            yield f"{package}.{name}", obj


def _parameters(func: object, skip_first: bool) -> list[str]:
    params = list(inspect.signature(func).parameters)
    return params[1:] if skip_first else params


def function_problems(func: object, *, method: bool = False) -> list[str]:
    """What the docstring of a function or method lacks."""
    doc = inspect.getdoc(func) or ""
    if not doc.strip():
        return ["no docstring"]
    found = sections(doc)
    problems = []
    params = _parameters(func, skip_first=method)
    missing = [p for p in params if p not in entry_names(found.get("Parameters", []))]
    if missing:
        problems.append(f"Parameters lacks {', '.join(missing)}")
    returns = inspect.signature(func).return_annotation
    if returns not in _NO_RETURN and not {"Returns", "Yields"} & set(found):
        problems.append("no Returns/Yields")
    return problems


def _own_methods(cls: type) -> Iterator[tuple[str, object, bool]]:
    """``(qualname, function, takes self/cls)`` for the public methods goemobalance defines on `cls`."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("goemobalance"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(member, staticmethod):
                yield f"{klass.__qualname__}.{name}", member.__func__, False
            elif isinstance(member, classmethod):
                yield f"{klass.__qualname__}.{name}", member.__func__, True
            elif inspect.isfunction(member):
                yield f"{klass.__qualname__}.{name}", member, True


def class_problems(cls: type) -> dict[str, list[str]]:
    """What the docstrings of a class (constructor, fitted attributes, public methods) lack, by name."""
    doc = inspect.getdoc(cls) or ""
    problems: dict[str, list[str]] = {}
    own: list[str] = []
    if not doc.strip() or doc == inspect.getdoc(cls.__mro__[1]) and "__doc__" not in vars(cls):
        own.append("no docstring")
    found = sections(doc)
    init_doc = inspect.getdoc(vars(cls)["__init__"]) if "__init__" in vars(cls) else ""
    documented = entry_names(found.get("Parameters", [])) | entry_names(found.get("Attributes", []))
    documented |= entry_names(sections(init_doc or "").get("Parameters", []))
    try:
        params = [p for p in inspect.signature(cls).parameters if p not in ("args", "kwargs")]
    except (TypeError, ValueError):
        params = []
    missing = [p for p in params if p not in documented]
    if missing:
        own.append(f"Parameters lacks {', '.join(missing)}")
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = ""
    attributes = entry_names(found.get("Attributes", []))
    fitted = sorted({name for name in _FITTED.findall(source) if name not in attributes})
    if fitted:
        own.append(f"Attributes lacks fitted {', '.join(fitted)}")
    if own:
        problems[cls.__qualname__] = own
    for qualname, func, bound in _own_methods(cls):
        found_problems = function_problems(func, method=bound)
        if found_problems:
            problems[qualname] = found_problems
    for qualname in _undocumented_properties(cls):
        problems[qualname] = ["no docstring"]
    return problems


def _undocumented_properties(cls: type) -> list[str]:
    """``Class.name`` of the public properties goemobalance defines on `cls` without a docstring."""
    return [
        f"{klass.__qualname__}.{name}"
        for klass in cls.__mro__
        if klass.__module__.startswith("goemobalance")
        for name, member in vars(klass).items()
        if isinstance(member, property) and not name.startswith("_") and not (member.__doc__ or "").strip()
    ]


def package_problems(package: str) -> dict[str, list[str]]:
    """Every problem in the names `package` exports, keyed by ``package.name`` (methods ``package.Class.method``)."""
    problems: dict[str, list[str]] = {}
    for qualified, obj in exported(package):
        if inspect.isclass(obj):
            prefix = qualified.rsplit(".", 1)[0]
            for name, found in class_problems(obj).items():
                problems[f"{prefix}.{name}"] = found
        else:
            found = function_problems(obj)
            if found:
                problems[qualified] = found
    return problems


def test_sections_parser_reads_numpydoc_entries() -> None:
    doc = "Summary.\n\nParameters\n----------\na, b : int\n    Two.\n*args\n    More.\n\nReturns\n-------\nint\n"
    found = sections(doc)
    assert set(found) == {"Parameters", "Returns"}
    assert entry_names(found["Parameters"]) == {"a", "b", "args"}


def test_checker_flags_an_undocumented_parameter_and_return() -> None:
    def half(x: int, y: int) -> int:
        """Half.

        Parameters
        ----------
        x : int
            A number.
        """
        return x // 2 + y

    assert function_problems(half) == ["Parameters lacks y", "no Returns/Yields"]


def test_checker_flags_an_undocumented_fitted_attribute() -> None:
    class Estimator:
        """An estimator.

        Parameters
        ----------
        k : int
            Neighbours.
        """

        def __init__(self, k: int = 1) -> None:
            self.k = k

        def fit(self, X: object) -> Estimator:
            """Fit.

            Parameters
            ----------
            X : object
                Data.

            Returns
            -------
            Estimator
                self.
            """
            self.classes_ = X
            return self

    assert class_problems(Estimator) == {Estimator.__qualname__: ["Attributes lacks fitted classes_"]}


def test_checker_flags_an_undocumented_property() -> None:
    class Report:
        """A report."""

        @property
        def total(self) -> int:
            return 0

    Report.__module__ = "goemobalance.fake"
    assert class_problems(Report) == {f"{Report.__qualname__}.total": ["no docstring"]}


@pytest.mark.parametrize("package", PACKAGES)
def test_public_api_has_numpydoc_sections(package: str) -> None:
    problems = package_problems(package)
    listing = "\n".join(f"{name}: {'; '.join(found)}" for name, found in sorted(problems.items()))
    assert not problems, f"docstrings lacking numpydoc sections:\n{listing}"


if __name__ == "__main__":
    found_problems = {
        name: found for package in PACKAGES for name, found in package_problems(package).items()
    }
    for name, found in sorted(found_problems.items()):
        print(f"{name}: {'; '.join(found)}")
    print(f"{len(found_problems)} names with problems", file=sys.stderr)
    sys.exit(1 if found_problems else 0)
