"""The package's architecture, read from the source with ``ast`` (nothing is imported).

* No import cycle among the ``uqviz.metrics`` modules, nor among the core modules as a whole.
  Every import counts, also one inside a function (that is how a cycle hides).
* Layering: ``streamlit`` only in ``app.py``, ``pages/*.py`` and ``uqviz/ui``; ``plotly`` only in
  ``uqviz/plots``; nothing imports ``pages``; the core (``uqviz`` outside ``ui/`` and ``plots/``)
  imports none of streamlit, plotly, ``uqviz.ui``, ``uqviz.plots`` (``uqviz/__main__.py`` may
  import ``uqviz.plots`` to write the HTML report).
* One registry reads a source's key: outside ``uqviz/ui/backend.py`` (``source(key)``) and
  ``uqviz/sources.py`` (where keys are made), nothing tells sources apart by the key's form
  (``is_model_key(``, ``is_file_key(``, ``startswith("model:")``, ``startswith("predictions:")``
  or the prefix constants); code asks the source (``src.kind``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Existing violations, each "file imports module" (no line number, so edits elsewhere in the
# file do not touch this list). Any other violation fails; so does an entry that no longer
# occurs (delete it then).
KNOWN_VIOLATIONS: frozenset[str] = frozenset({
    # being removed by the study redesign; it has removed them all so far:
    # "pages/conformal.py imports plotly.graph_objects",
    # "pages/shift.py imports plotly.graph_objects",
})


@dataclass(frozen=True)
class Import:
    source: str  # module name of the importing file, e.g. uqviz.metrics.bootstrap
    path: str  # the importing file relative to the repository root
    line: int
    target: str  # absolute module name imported, e.g. uqviz.metrics.calibration

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"

    @property
    def key(self) -> str:
        return f"{self.path} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")),
             *sorted((ROOT / "uqviz").rglob("*.py"))]
    return [f for f in files if f.is_file()]


def _package(path: Path, name: str) -> list[str]:
    """The package a relative import in ``path`` starts from."""
    parts = name.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def imports_of(path: Path, modules: set[str], code: str | None = None) -> list[Import]:
    """Every import statement in ``path`` (module level, in functions, under TYPE_CHECKING),
    resolved to absolute module names; ``from package import module`` names the module.
    ``code`` replaces the file's text (for testing the parser)."""
    name = module_name(path)
    rel = path.relative_to(ROOT).as_posix()
    code = path.read_text(encoding="utf-8") if code is None else code
    found = []
    for node in ast.walk(ast.parse(code, filename=rel)):
        if isinstance(node, ast.Import):
            found += [Import(name, rel, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(path, name)[: len(_package(path, name)) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append(Import(name, rel, node.lineno, sub if sub in modules else target))
    return found


def all_imports() -> list[Import]:
    files = source_files()
    modules = {module_name(f) for f in files}
    return [imp for f in files for imp in imports_of(f, modules)]


IMPORTS = all_imports()


def is_core(module: str) -> bool:
    return (module == "uqviz" or module.startswith("uqviz.")) and not module.startswith(
        ("uqviz.ui", "uqviz.plots"))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with a cycle (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def _graph(keep) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        if keep(imp.source) and keep(imp.target):
            edges.setdefault(imp.source, set()).add(imp.target)
    return edges


def _describe(cycles: list[list[str]]) -> str:
    lines = []
    for component in cycles:
        members = set(component)
        lines.append(" <-> ".join(component))
        lines += sorted({f"    {imp}" for imp in IMPORTS
                         if imp.source in members and imp.target in members})
    return "\n".join(lines)


def layering_violations(imports: list[Import]) -> list[Import]:
    bad = []
    for imp in imports:
        top = imp.target.split(".")[0]
        src = imp.source
        ui_or_pages = src == "app" or _within(src, "pages") or _within(src, "uqviz.ui")
        if top == "streamlit" and not ui_or_pages:
            bad.append(imp)
        elif top == "plotly" and not _within(src, "uqviz.plots"):
            bad.append(imp)
        elif top == "pages":
            bad.append(imp)
        elif is_core(src) and (_within(imp.target, "uqviz.ui")
                               or _within(imp.target, "uqviz.plots")):
            if not (src == "uqviz.__main__" and _within(imp.target, "uqviz.plots")):
                bad.append(imp)
    return bad


# -- the parser itself -------------------------------------------------------------------------
def test_imports_are_resolved_including_relative_and_function_level():
    modules = {"uqviz.metrics", "uqviz.metrics.a", "uqviz.metrics.b"}
    code = ("from . import b\nfrom .b import thing\nimport numpy\n"
            "def f():\n    from uqviz.metrics.b import other\n")
    got = imports_of(ROOT / "uqviz" / "metrics" / "a.py", modules, code)
    assert [(i.line, i.target) for i in got] == [
        (1, "uqviz.metrics.b"), (2, "uqviz.metrics.b"), (3, "numpy"), (5, "uqviz.metrics.b")]
    assert str(got[0]) == "uqviz/metrics/a.py:1 imports uqviz.metrics.b"
    init = imports_of(ROOT / "uqviz" / "metrics" / "__init__.py", modules, "from .a import x\n")
    assert [i.target for i in init] == ["uqviz.metrics.a"]


def test_cycles_are_found():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"a"}}) == [["a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_is_parsed():
    names = {imp.source for imp in IMPORTS}
    assert {"app", "uqviz.metrics.classification", "uqviz.metrics.bootstrap",
            "uqviz.conformal", "uqviz.ui.state"} <= names


# -- cycles ------------------------------------------------------------------------------------
def test_no_import_cycle_among_metrics_modules():
    cycles = find_cycles(_graph(lambda m: _within(m, "uqviz.metrics")))
    assert not cycles, "import cycles in uqviz.metrics:\n" + _describe(cycles)


def test_no_import_cycle_in_the_core():
    cycles = find_cycles(_graph(is_core))
    assert not cycles, "import cycles in the core:\n" + _describe(cycles)


# -- layering ----------------------------------------------------------------------------------
def test_layering():
    new = [str(imp) for imp in layering_violations(IMPORTS) if imp.key not in KNOWN_VIOLATIONS]
    assert not new, "layering violations:\n" + "\n".join(new)


def test_known_violations_still_exist():
    current = {imp.key for imp in layering_violations(IMPORTS)}
    stale = sorted(KNOWN_VIOLATIONS - current)
    assert not stale, ("fixed, so delete from KNOWN_VIOLATIONS in tests/test_architecture.py:\n"
                       + "\n".join(stale))


@pytest.mark.parametrize("source, target, bad", [
    ("uqviz.metrics.summary", "streamlit", True),
    ("uqviz.ui.state", "streamlit", False),
    ("app", "streamlit", False),
    ("uqviz.plots.theme", "streamlit", True),
    ("pages.compare", "plotly.graph_objects", True),
    ("uqviz.ui.tables", "plotly", True),
    ("uqviz.plots.theme", "plotly.io", False),
    ("uqviz.study", "uqviz.plots.theme", True),
    ("uqviz.conformal", "uqviz.ui", True),
    ("uqviz.__main__", "uqviz.plots.report", False),
    ("uqviz.__main__", "uqviz.ui.tables", True),
    ("uqviz.ui.state", "pages.home", True),
    ("pages.compare", "uqviz.ui.tables", False),
    ("pages.compare", "uqviz.plots", False),
])
def test_rules_catch_what_they_should(source, target, bad):
    fake = Import(source, source.replace(".", "/") + ".py", 1, target)
    assert (layering_violations([fake]) == [fake]) is bad


# -- one registry reads a source's key ---------------------------------------------------------
KEY_REGISTRY = frozenset({"uqviz/ui/backend.py", "uqviz/sources.py"})
KEY_FORM_CHECK = re.compile(r"""\bis_(?:model|file)_key\("""
                            r"""|\.startswith\(\s*(?:["'](?:model|predictions):["']"""
                            r"""|FILE_PREFIX\b|MODEL_(?:KEY_)?PREFIX\b)""")


def key_form_checks(path: Path, code: str | None = None) -> list[str]:
    """``file:line`` of each line of ``path`` that tells sources apart by their key's form.
    ``code`` replaces the file's text (for testing the check)."""
    rel = path.relative_to(ROOT).as_posix()
    code = path.read_text(encoding="utf-8") if code is None else code
    return [f"{rel}:{n}: {line.strip()}" for n, line in enumerate(code.splitlines(), 1)
            if KEY_FORM_CHECK.search(line)]


def test_key_form_checks_are_found():
    code = ("if is_model_key(key):\n"
            "ok = src.kind == YOUR_MODEL\n"
            "if key.startswith('predictions:'):\n"
            'x = key.startswith("model:")\n'
            "y = key.startswith(MODEL_PREFIX)\n"
            "z = group.startswith(\"ood:\")\n"
            "if not is_file_key(dataset): pass\n")
    got = key_form_checks(ROOT / "pages" / "x.py", code)
    assert [g.split(":")[1] for g in got] == ["1", "3", "4", "5", "7"]
    assert got[0] == "pages/x.py:1: if is_model_key(key):"


def test_only_the_registry_reads_a_source_key():
    found = [hit for f in source_files() if f.relative_to(ROOT).as_posix() not in KEY_REGISTRY
             for hit in key_form_checks(f)]
    assert not found, ("ask the source (uqviz.ui.backend.source(key).kind / .label) instead of "
                       "reading its key:\n" + "\n".join(found))
