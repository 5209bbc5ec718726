"""No import cycles among bfrbench modules, nor among its layers (top-level modules and subpackages).

Every `import bfrbench...` / `from bfrbench... import` counts, wherever it is written: at the top of a module, inside
a function (the lazy imports that keep start-up light), or under `if TYPE_CHECKING:`. A function-level import
hides a cycle from Python at import time but not from the design: the two modules still need each other, so neither
can be understood, tested or moved alone. The graph is read with `ast` from the source files; nothing is imported.

Layers are `bfrbench.<name>`: a subpackage (metrics, methods, report, ...) or a top-level module (config, weights,
...). A layer cycle (config -> methods -> config through different modules) is a cycle too: the lower layer must
not reach up, even when no single pair of modules imports each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "bfrbench"
SRC = Path(__file__).resolve().parents[1] / "src"


def _modules(src: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package __init__)."""
    out = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _resolve(name: str, modules) -> str | None:
    """The module a dotted import name lands in (`bfrbench.x.f` -> `bfrbench.x` when f is not a module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(src: Path = SRC) -> dict[str, dict[str, tuple[Path, int]]]:
    """module -> {imported bfrbench module: (file, line of the first such import)}."""
    modules = _modules(src)
    graph: dict[str, dict[str, tuple[Path, int]]] = {m: {} for m in modules}
    for module, (path, is_pkg) in modules.items():
        package = module if is_pkg else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: climb from this module's package
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from a import b`: b may be a submodule (a.b) or a name defined in a; importing it runs a too.
                names = [source] + [f"{source}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                if name == PACKAGE or name.startswith(PACKAGE + "."):
                    target = _resolve(name, modules)
                    if target and target != module:
                        graph[module].setdefault(target, (path, node.lineno))
    return graph


def layer_graph(graph):
    """The same graph with every module collapsed into its layer `bfrbench.<name>`; edges keep every witness."""
    def layer(module: str) -> str:
        return ".".join(module.split(".")[:2])

    out: dict[str, dict[str, list]] = {layer(m): {} for m in graph}
    for a, targets in graph.items():
        for b, where in targets.items():
            if layer(a) != layer(b):
                out[layer(a)].setdefault(layer(b), []).append((a, b, where))
    return out


def cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted; iterative, no recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(SRC.parent)}:{line}"


def test_no_module_cycles():
    graph = import_graph()
    lines = []
    for component in cycles(graph):
        members = set(component)
        lines.append("cycle: " + " <-> ".join(component))
        lines += [f"    {a} -> {b} ({_where(*graph[a][b])})" for a in component for b in graph[a] if b in members]
    assert not lines, "import cycles among bfrbench modules:\n" + "\n".join(lines)


def test_no_layer_cycles():
    graph = layer_graph(import_graph())
    lines = []
    for component in cycles(graph):
        members = set(component)
        lines.append("cycle: " + " <-> ".join(component))
        lines += [f"    {a} -> {b} ({_where(*where)})"
                  for la in component for lb, witnesses in graph[la].items() if lb in members
                  for a, b, where in witnesses]
    assert not lines, "import cycles among bfrbench layers:\n" + "\n".join(lines)


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    """The checker itself: a cycle written only with a function-level import and a relative import is found."""
    pkg = tmp_path / PACKAGE
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("def f():\n    from bfrbench.high import g\n")
    (pkg / "low" / "b.py").write_text("from . import a\n")
    (pkg / "high.py").write_text("from bfrbench.low.b import a\n")
    graph = import_graph(tmp_path)
    assert graph["bfrbench.low.b"] == {"bfrbench.low": (pkg / "low" / "b.py", 1),
                                       "bfrbench.low.a": (pkg / "low" / "b.py", 1)}
    assert cycles(graph) == [["bfrbench.high", "bfrbench.low.a", "bfrbench.low.b"]]
    assert cycles(layer_graph(graph)) == [["bfrbench.high", "bfrbench.low"]]
