"""The shape of the code, checked: no import circle among ffrtmp's modules, no module over
300 lines (generated code aside), and master/ grouped into its concern folders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "services", ROOT / "clients"]
MAX_LINES = 300
# What may stand at the top of master/: the process's assembly and its entry points.
MASTER_TOP = {"__init__.py", "main.py", "server.py", "config.py", "catalog.py", "keytool.py"}
MASTER_GROUPS = {"storage", "scheduling", "rpc", "observe", "leadership"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base in SOURCES:
        for path in base.rglob("*.py"):
            if "_pb2" in path.name:
                continue
            rel = path.relative_to(base).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """ffrtmp modules imported anywhere in the module: a lazy import inside a function
    hides a circle from Python, not from the design."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle() -> None:
    mods = _modules()
    graph = {name: _imports(path, name, set(mods)) for name, path in mods.items()}
    assert _cycles(graph) == []


def test_the_checker_sees_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_300_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules().values()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_master_is_grouped() -> None:
    master = ROOT / "services" / "ffrtmp" / "master"
    loose = {p.name for p in master.iterdir() if p.suffix == ".py"} - MASTER_TOP
    folders = {p.name for p in master.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert loose == set()
    assert folders == MASTER_GROUPS


def test_no_test_module_imports_another() -> None:
    """Shared test code lives in tests/helpers: importing a test module from
    another runs its module-level set-up twice and ties the two together."""
    pattern = re.compile(r"^\s*(?:from|import)\s+tests\.\w+\.test_\w+", re.MULTILINE)
    found = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("*.py")
        if pattern.search(p.read_text())
    )
    assert found == []
