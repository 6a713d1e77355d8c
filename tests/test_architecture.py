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
* One path for every number: page → ``uqviz.ui`` → core. A page imports from ``uqviz`` only
  ``uqviz.ui…``, ``uqviz.plots…`` and ``uqviz.labels``; nothing under ``uqviz/ui`` imports
  torch (it calls a core function that does); no private name (``_x``) of a ``uqviz`` module is
  imported by another module.
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
_KEY_PREFIX = r"""(?:["'](?:model|predictions):["']|FILE_PREFIX\b|MODEL_(?:KEY_)?PREFIX\b)"""
KEY_FORM_CHECK = re.compile(r"""\bis_(?:model|file)_key\("""
                            rf"""|\.(?:startswith|removeprefix)\(\s*{_KEY_PREFIX}"""
                            r"""|\blen\(\s*(?:FILE_PREFIX|MODEL_(?:KEY_)?PREFIX)\s*\)""")
# The registry's two back ends may read the key they are handed: ``source(key)`` sends a file's
# key to ``files.file_source`` and a model's to ``models.model_source``, which strip the prefix
# only to name the file or model in their "not loaded in this session" error. Exactly one such
# read each (file, the line's fragment); any other read of a key there is a finding.
KEY_READS_ALLOWED = {("uqviz/ui/files.py", "key.removeprefix(FILE_PREFIX)"),
                     ("uqviz/ui/models.py", "key.removeprefix(MODEL_PREFIX)")}


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
            "if not is_file_key(dataset): pass\n"
            "name = key.removeprefix(FILE_PREFIX)\n"
            "name = key.removeprefix('model:').rsplit('#', 1)[0]\n"
            "name = key[len(MODEL_KEY_PREFIX):]\n"
            "g = group.removeprefix(OOD_PREFIX)\n")
    got = key_form_checks(ROOT / "pages" / "x.py", code)
    assert [g.split(":")[1] for g in got] == ["1", "3", "4", "5", "7", "8", "9", "10"]
    assert got[0] == "pages/x.py:1: if is_model_key(key):"


def test_only_the_registry_reads_a_source_key():
    hits = [hit for f in source_files() if f.relative_to(ROOT).as_posix() not in KEY_REGISTRY
            for hit in key_form_checks(f)]
    allowed = [hit for hit in hits
               if any(hit.startswith(f"{path}:") and fragment in hit.split(": ", 1)[1]
                      for path, fragment in KEY_READS_ALLOWED)]
    assert sorted(hit.split(":")[0] for hit in allowed) == sorted(
        path for path, _ in KEY_READS_ALLOWED), f"expected one allowed read each, got {allowed}"
    found = [hit for hit in hits if hit not in allowed]
    assert not found, ("ask the source (uqviz.ui.backend.source(key).kind / .label) instead of "
                       "reading its key:\n" + "\n".join(found))


# -- one path for every number: page -> uqviz.ui -> core ----------------------------------------
PAGE_MAY_IMPORT = ("uqviz.ui", "uqviz.plots", "uqviz.labels")


def page_core_imports(imports: list[Import]) -> list[Import]:
    """Imports of a page (``pages/*.py``) from ``uqviz`` outside ``PAGE_MAY_IMPORT``."""
    return [imp for imp in imports if _within(imp.source, "pages")
            and _within(imp.target, "uqviz")
            and not any(_within(imp.target, p) for p in PAGE_MAY_IMPORT)]


def ui_torch_imports(imports: list[Import]) -> list[Import]:
    """Imports of torch (any submodule, any level) by a module under ``uqviz/ui``."""
    return [imp for imp in imports
            if _within(imp.source, "uqviz.ui") and _within(imp.target, "torch")]


def private_name_imports(path: Path, code: str | None = None) -> list[str]:
    """``file:line imports module._name`` for each private name (one leading underscore, not a
    dunder) that ``path`` imports from a ``uqviz`` module (absolute or relative import).
    ``code`` replaces the file's text (for testing the check)."""
    rel = path.relative_to(ROOT).as_posix()
    code = path.read_text(encoding="utf-8") if code is None else code
    found = []
    for node in ast.walk(ast.parse(code, filename=rel)):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = "." * node.level + (node.module or "")
        if not (node.level or _within(node.module or "", "uqviz")):
            continue
        found += [f"{rel}:{node.lineno} imports {module}.{alias.name}" for alias in node.names
                  if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


@pytest.mark.parametrize("source, target, bad", [
    ("pages.compare", "uqviz.ui.backend", False),
    ("pages.compare", "uqviz.ui", False),
    ("pages.compare", "uqviz.plots.theme", False),
    ("pages.story", "uqviz.labels", False),
    ("pages.compare", "uqviz.study", True),
    ("pages.shift", "uqviz.shifts", True),
    ("pages.ood", "uqviz.metrics.scores", True),
    ("pages.glossary", "uqviz", True),
    ("pages.glossary", "uqviz.uix", True),
    ("pages.compare", "numpy", False),
    ("uqviz.ui.backend", "uqviz.study", False),
])
def test_page_rule_catches_what_it_should(source, target, bad):
    fake = Import(source, source.replace(".", "/") + ".py", 1, target)
    assert (page_core_imports([fake]) == [fake]) is bad


def test_pages_import_only_ui_plots_and_labels():
    found = [str(imp) for imp in page_core_imports(IMPORTS)]
    assert not found, ("a page reads the core only through uqviz.ui (re-export the name there, "
                       "e.g. in uqviz/ui/catalog.py):\n" + "\n".join(found))


def test_ui_torch_rule_catches_what_it_should():
    modules = {"uqviz.ui", "uqviz.ui.x"}
    code = ("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
            "import numpy\nfrom uqviz.shifts import corrupt\n"
            "def f():\n    import torch\n")
    got = ui_torch_imports(imports_of(ROOT / "uqviz" / "ui" / "x.py", modules, code))
    assert [i.line for i in got] == [1, 2, 3, 7]
    core = imports_of(ROOT / "uqviz" / "shifts.py", modules, "import torch\n")
    assert ui_torch_imports(core) == []


def test_ui_does_not_import_torch():
    found = [str(imp) for imp in ui_torch_imports(IMPORTS)]
    assert not found, ("uqviz/ui calls a core function for tensor work (e.g. "
                       "uqviz.shifts.corrupt_pictures), never torch itself:\n" + "\n".join(found))


def test_private_name_rule_catches_what_it_should():
    code = ("from uqviz.plots.theme import ACCENT, _finish\n"
            "from .messages import _error\n"
            "from __future__ import annotations\n"
            "from uqviz import __version__\n"
            "from numpy import _private\n"
            "def f():\n    from uqviz.metrics.classification import _z\n")
    got = private_name_imports(ROOT / "uqviz" / "x.py", code)
    assert got == ["uqviz/x.py:1 imports uqviz.plots.theme._finish",
                   "uqviz/x.py:2 imports .messages._error",
                   "uqviz/x.py:7 imports uqviz.metrics.classification._z"]


def test_no_private_name_is_imported_across_modules():
    found = [hit for f in source_files() for hit in private_name_imports(f)]
    assert not found, ("a name another module imports is public: drop its leading underscore "
                       "in the module that defines it:\n" + "\n".join(found))
