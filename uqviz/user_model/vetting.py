"""What a model file may hold before torch reads it, and which operators a loaded graph may run.

A model file a user uploads is untrusted: it may do nothing but compute its outputs
(``docs/security.md``). Three checks stand between the file and torch:

* **Exported programs** (``.pt2``, ``vet_exported_program``): the archive may hold only the
  entries the current format defines, under one top folder. Legacy entries at the archive's
  root (``version``, ``serialized_exported_program.json``, ``serialized_*.pt``) are refused:
  ``torch.export.load`` would fall back to the 2.7 format and unpickle them. Weights and
  constants must be raw tensors (nothing marked ``use_pickle``, no custom objects), no native
  code (AOTInductor, ExecuTorch) may be present, every node's ``target`` must be an operator
  of ``OperatorPolicy`` (``torch.ops.aten``, a few ``_operator`` / ``math`` / ``torch.sym_*``
  helpers), and every symbolic size (``expr_str``, which torch parses with ``sympy.sympify``,
  i.e. Python's ``eval``) must parse under a strict grammar of names, integers and arithmetic
  (``check_sym_expr``).
* **TorchScript** (``vet_torchscript_archive`` before loading, ``vet_torchscript_graph``
  after): the archive's code may define no ``__setstate__`` (run by ``torch.jit.load``
  itself) and may name no refused operator or custom class; once loaded, every node of every
  method's inlined graph must be an operator of ``OperatorPolicy``.
* **Operators** (``OperatorPolicy``): the ``aten`` and ``prim`` namespaces only, less the
  operators that read or write files (``aten::from_file``, ``aten::save`` and any operator with
  a ``filename`` argument). TorchScript has no network or process operators; the namespaces
  that could reach them (custom ops, ``c10d``, ``profiler``, ``debugprims``…) are outside the
  allowed ones.

Every refusal is a ``UserModelError`` whose one line names the file and what was refused.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from uqviz.user_model.config import UserModelError

ALLOWED_NAMESPACES = ("aten", "prim")
FILE_OPERATORS = frozenset({"aten::from_file", "aten::save", "debugprims::load_tensor"})
OPERATOR_MODULE_CALLS = frozenset({
    "getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "pow", "neg", "pos", "abs",
    "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "xor", "not_", "invert", "lshift",
    "rshift"})
MATH_CALLS = frozenset({"ceil", "floor", "sqrt", "trunc", "log", "exp", "isnan", "isinf"})
LEGACY_ROOT_ENTRIES = ("version", "serialized_exported_program.json", "serialized_state_dict",
                       "serialized_constants", "serialized_example_inputs", "extra_files")
PT2_FIXED_ENTRIES = frozenset({"archive_format", "archive_version", "byteorder", ".data/version",
                               ".data/serialization_id"})
PT2_FOLDERS = ("models/", "data/weights/", "data/constants/", "data/sample_inputs/")
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
SYM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
SYM_CALLS = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Max", "Min", "Abs", "Eq", "Ne", "Lt", "Le",
    "Gt", "Ge", "And", "Or", "Not", "Mod", "Pow", "Mul", "Add", "floor", "ceiling", "sqrt",
    # torch.utils._sympy.functions, as the deserializer names them
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt",
    "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv",
    "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt",
    "RoundDecimal", "ToFloat", "Identity"})
SYM_ASSUMPTIONS = frozenset({"positive", "negative", "nonnegative", "nonpositive", "integer",
                             "real", "finite", "zero", "nonzero", "even", "odd"})
SYM_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call,
             ast.Name, ast.Load, ast.Constant, ast.keyword, ast.operator, ast.unaryop,
             ast.boolop, ast.cmpop)
MAX_EXPR_CHARS = 1000
MAX_JSON_BYTES = 256 * 2**20


class OperatorPolicy:
    """Which operators a user's graph may run: ``aten::`` and ``prim::`` ones, less those that
    touch files (``FILE_OPERATORS`` and any operator whose schema takes a ``filename``)."""

    @staticmethod
    @cache
    def refused() -> frozenset[str]:
        import torch

        with_files = {s.name for s in torch._C._jit_get_all_schemas()
                      if any(a.name == "filename" for a in s.arguments)}
        return FILE_OPERATORS | frozenset(with_files)

    @classmethod
    def why_refused(cls, qualified: str) -> str | None:
        """Why ``ns::name`` (overload dropped) may not run, or None when it may."""
        name = qualified.split(".")[0]
        namespace = name.split("::")[0] if "::" in name else ""
        if name in cls.refused():
            return f"the operator {name}, which reads or writes files"
        if namespace not in ALLOWED_NAMESPACES:
            allowed = ", ".join(ALLOWED_NAMESPACES)
            return f"the operator {name}, outside the allowed namespaces ({allowed})"
        return None


def _refused(path: Path, what: str) -> UserModelError:
    return UserModelError(f"{path.name}: refused, it holds {what}; an uploaded model may only "
                          "compute its outputs")


# -- symbolic sizes ------------------------------------------------------------------------------
def check_sym_expr(text: Any) -> str | None:
    """Why a symbolic size's text is not plain arithmetic, or None when it is.

    The grammar: integers and floats, names (``s0``, ``u3``; no leading underscore, no Python
    builtin), ``+ - * / // % **``, comparisons, ``and``/``or``/``not``, and calls of the sympy and
    torch size functions in ``SYM_CALLS`` by name; ``Symbol('s0', positive=True, integer=True)``
    may take one identifier string and boolean assumptions. No attribute, subscript, lambda,
    comprehension or other string is allowed, so ``sympy.sympify`` (Python's ``eval``) evaluates
    nothing but arithmetic.
    """
    if not isinstance(text, str):
        return "a symbolic size that is not text"
    if len(text) > MAX_EXPR_CHARS:
        return f"a symbolic size of {len(text)} characters"
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "a symbolic size that is not an arithmetic expression"
    for node in ast.walk(tree):
        if not isinstance(node, SYM_NODES):
            return f"a symbolic size with Python code ({type(node).__name__})"
        if isinstance(node, ast.Name) and (not SYM_NAME.match(node.id)
                                           or node.id in vars(builtins)):
            return f"a symbolic size naming {node.id[:40]!r}"
        if isinstance(node, ast.Call):
            why = _why_bad_call(node)
            if why:
                return why
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not _symbol_name(
                node, tree):
            return "a symbolic size with a string in it"
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            return "a symbolic size with a constant that is not a number"
    return None


def _why_bad_call(node: ast.Call) -> str | None:
    if not isinstance(node.func, ast.Name) or node.func.id not in SYM_CALLS:
        shown = node.func.id if isinstance(node.func, ast.Name) else type(node.func).__name__
        return f"a symbolic size calling {shown[:40]!r}"
    for kw in node.keywords:
        if (node.func.id != "Symbol" or kw.arg not in SYM_ASSUMPTIONS
                or not isinstance(kw.value, ast.Constant) or not isinstance(kw.value.value, bool)):
            return "a symbolic size with a keyword argument that is not an assumption"
    return None


def _symbol_name(const: ast.Constant, tree: ast.AST) -> bool:
    """Whether ``const`` is the identifier string of a ``Symbol('s0', …)`` call."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
               and n.func.id == "Symbol" and n.args and n.args[0] is const
               and SYM_NAME.match(const.value) for n in ast.walk(tree))


# -- exported programs -----------------------------------------------------------------------------
def _target_why(target: str) -> str | None:
    """Why an exported node's ``target`` may not run, or None when it may."""
    parts = target.split(".")
    if target.startswith("torch.ops.") and len(parts) in (4, 5):
        return OperatorPolicy.why_refused(f"{parts[2]}::{parts[3]}")
    if len(parts) == 2 and parts[0] == "_operator" and parts[1] in OPERATOR_MODULE_CALLS:
        return None
    if len(parts) == 2 and parts[0] == "math" and parts[1] in MATH_CALLS:
        return None
    if len(parts) == 2 and parts[0] == "torch" and re.match(r"^_?sym_[a-z_]+$", parts[1]):
        return None
    return f"a call uqviz does not run ({target[:80]})"


def _walk_json(value: Any) -> Iterator[tuple[str, Any, dict]]:
    """Every (key, value, owner) of a parsed JSON document, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                yield key, child, item
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _read_json(archive: zipfile.ZipFile, entry: str, path: Path) -> Any:
    if archive.getinfo(entry).file_size > MAX_JSON_BYTES:
        raise _refused(path, f"a description of {archive.getinfo(entry).file_size:,} bytes")
    try:
        return json.loads(archive.read(entry))
    except (ValueError, RecursionError):
        raise _refused(path, f"an unreadable description ({PurePosixPath(entry).name})") \
            from None


def _vet_program_json(document: Any, path: Path) -> None:
    for key, value, owner in _walk_json(document):
        if key == "expr_str":
            why = check_sym_expr(value)
            if why:
                raise _refused(path, why)
        elif key == "target" and "inputs" in owner and "outputs" in owner:
            why = _target_why(str(value))
            if why:
                raise _refused(path, why)
        elif key in ("as_custom_obj", "custom_obj_path_name", "script_obj"):
            raise _refused(path, "a custom object")


def _vet_tensor_config(archive: zipfile.ZipFile, entry: str, folder: str, path: Path) -> None:
    config = _read_json(archive, entry, path)
    items = config.get("config", {}) if isinstance(config, dict) else None
    if not isinstance(items, dict):
        raise _refused(path, f"an unreadable tensor list ({PurePosixPath(entry).name})")
    for key, meta in items.items():
        if not isinstance(meta, dict) or meta.get("use_pickle"):
            raise _refused(path, f"a pickled tensor ({str(key)[:60]}), and loading it would run "
                                 "a pickle, which can run any code")
        if folder == "data/constants/" and not str(meta.get("path_name", "")).startswith("tensor"):
            raise _refused(path, f"a custom object ({str(key)[:60]})")


def vet_exported_program(path: Path) -> None:
    """Refuse an exported program holding anything but what the current ``.pt2`` format
    defines, or a graph, symbolic size or tensor that could run code (see the module
    docstring).

    Raises:
        UserModelError: one line naming the file and what was refused.
    """
    import io

    import torch

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
        root_level = [n for n in names if len(PurePosixPath(n).parts) == 1]
        if any(n.startswith(LEGACY_ROOT_ENTRIES) for n in root_level):
            raise _refused(path, "entries of the legacy 2.7 format at the archive's root "
                                 f"({root_level[0][:60]}), which torch would unpickle")
        if root_level or len(tops) != 1:
            raise _refused(path, "entries outside the archive's one folder")
        for name in names:
            inner = "/".join(PurePosixPath(name).parts[1:])
            folder = next((f for f in PT2_FOLDERS if inner.startswith(f)), None)
            if inner in PT2_FIXED_ENTRIES or name.endswith("/"):
                continue
            if folder is None or "/" in inner[len(folder):] or not SAFE_NAME.match(
                    inner[len(folder):]):
                raise _refused(path, f"an entry the exported-program format does not define "
                                     f"({inner[:80]})")
            if folder == "models/" and inner.endswith(".json"):
                _vet_program_json(_read_json(archive, name, path), path)
            elif folder in ("data/weights/", "data/constants/") and inner.endswith(".json"):
                _vet_tensor_config(archive, name, folder, path)
            elif folder in ("data/weights/", "data/constants/") and inner.endswith(".pt"):
                raise _refused(path, "weights in the legacy pickled format")
            elif folder == "data/sample_inputs/":
                try:
                    torch.load(io.BytesIO(archive.read(name)), weights_only=True)
                except Exception:
                    raise _refused(path, "sample inputs that are not plain tensors") from None
        fmt = next((n for n in names if n.endswith("/archive_format")), None)
        if fmt is None or archive.read(fmt).strip() != b"pt2":
            raise _refused(path, "no pt2 archive_format entry")


# -- TorchScript -----------------------------------------------------------------------------------
def _code_names(tree: ast.AST) -> Iterator[str]:
    """Dotted names (``torch.from_file``, ``ops.aten.save``) and defined method names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts, cur = [node.attr], node.value
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                yield ".".join([cur.id, *reversed(parts)])
        elif isinstance(node, ast.FunctionDef):
            yield f"def {node.name}"


def _code_why(name: str) -> str | None:
    if name in ("def __setstate__", "def __getstate__"):
        return f"a {name[4:]} method, which torch.jit.load would run"
    parts = name.split(".")
    if ".classes." in f".{name}." and parts[0] in ("torch", "__torch__"):
        return f"a custom class ({name[:80]})"
    if parts[0] == "ops" and len(parts) >= 3:
        return OperatorPolicy.why_refused(f"{parts[1]}::{parts[2]}")
    if parts[0] == "torch" and len(parts) == 2:
        return (OperatorPolicy.why_refused(f"aten::{parts[1]}")
                if f"aten::{parts[1]}" in OperatorPolicy.refused() else None)
    return None


def vet_torchscript_archive(path: Path) -> None:
    """Refuse a TorchScript archive whose code defines ``__setstate__`` or names a refused
    operator or a custom class, before ``torch.jit.load`` runs any of it.

    Raises:
        UserModelError: one line naming the file and what was refused.
    """
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            inner = "/".join(PurePosixPath(name).parts[1:])
            if not (inner.startswith("code/") and inner.endswith(".py")):
                continue
            try:
                tree = ast.parse(archive.read(name).decode("utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError):
                raise _refused(path, f"code that cannot be read ({inner[:80]})") from None
            for dotted in _code_names(tree):
                why = _code_why(dotted)
                if why:
                    raise _refused(path, why)


@dataclass(frozen=True)
class GraphNode:
    kind: str
    method: str


def _graph_nodes(graph: Any, method: str) -> Iterator[GraphNode]:
    stack = [graph.nodes()]
    while stack:
        for node in stack.pop():
            yield GraphNode(node.kind(), method)
            stack.extend(block.nodes() for block in node.blocks())


def vet_torchscript_graph(module: Any, path: Path) -> None:
    """Refuse a loaded TorchScript module any of whose methods (inlined, submodules included)
    runs an operator outside ``OperatorPolicy``.

    Raises:
        UserModelError: one line naming the file, the method and the operator.
    """
    import torch

    for name in module._c._method_names():
        graph = module._c._get_method(name).graph.copy()
        torch._C._jit_pass_inline(graph)
        for node in _graph_nodes(graph, name):
            why = OperatorPolicy.why_refused(node.kind)
            if why:
                raise UserModelError(f"{path.name}: refused, its method {node.method} runs "
                                     f"{why}; an uploaded model may only compute its outputs")
