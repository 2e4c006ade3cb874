"""The house rules of the code base, measured: import cycles, private names imported across modules, test
modules importing test modules, imports against the layer order, function-level imports of project modules,
the number of top-level entries of ``bioner/`` and the length of each script's ``main``.

``tests/test_architecture.py`` fails the build on a breach. Run this file to print the figures for any
checkout (``python tests/architecture.py [ROOT]``), e.g. an older commit's, to compare.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

LAYERS = ("data", "corpora", "decoding", "models", "tagging", "evaluation", "hub", "training", "grid")
"""The layer order, lowest first: a module of ``bioner.<layer>`` imports only from its own layer or lower ones
(and from ``metrics``, which imports nothing of ``bioner``). ``bioner/__init__.py`` and the ``bioner.taggers``
compatibility shim sit above every layer."""

FACADES = ("bioner", "bioner.taggers")
SCRIPTS = (
    "train_encoder",
    "train_decoder",
    "evaluate_ner",
    "benchmark_latency",
    "tag",
    "prepare_datasets",
    "reproduce",
)


@dataclass(frozen=True)
class Import:
    source: str
    """Dotted name of the importing module."""
    target: str
    """Dotted name of the imported project module."""
    names: tuple[str, ...]
    """Names taken by ``from target import ...`` (empty for ``import target``)."""
    in_function: bool
    line: int


@dataclass
class Report:
    modules: list[str] = field(default_factory=list)
    """The modules of ``bioner`` that hold code (a package ``__init__`` with only a docstring is not one)."""
    imports: list[Import] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)
    private_imports: list[Import] = field(default_factory=list)
    test_to_test: list[Import] = field(default_factory=list)
    layer_violations: list[Import] = field(default_factory=list)
    function_imports: list[Import] = field(default_factory=list)
    top_level_entries: list[str] = field(default_factory=list)
    script_main_lines: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict:
        return {
            "cycles": len(self.cycles),
            "private_cross_module_imports": len(self.private_imports),
            "test_to_test_imports": len(self.test_to_test),
            "layer_violations": len(self.layer_violations),
            "function_level_project_imports": len(self.function_imports),
            "bioner_top_level_entries": len(self.top_level_entries),
            "longest_script_main": max(self.script_main_lines.values(), default=0),
            "modules": len(self.modules),
        }


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for ``bioner``, ``metrics``, ``tests`` and the top-level scripts."""
    files: dict[str, Path] = {}
    for package in ("bioner", "metrics", "tests"):
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[module_name(root, path)] = path
    for script in SCRIPTS:
        if (root / f"{script}.py").is_file():
            files[script] = root / f"{script}.py"
    return files


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def collect_imports(files: dict[str, Path]) -> list[Import]:
    """Every import of a project module, including those inside functions. ``from pkg import sub`` counts as
    an import of the sub-module ``pkg.sub`` when it is one."""
    found: list[Import] = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, in_function: bool, module=module, is_package=is_package) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import):
                    for alias in child.names:
                        if alias.name in files or alias.name.split(".")[0] in ("bioner", "metrics", "tests"):
                            found.append(Import(module, alias.name, (), in_function, child.lineno))
                elif isinstance(child, ast.ImportFrom):
                    target = _resolve(module, child, is_package)
                    if not (target in files or target.split(".")[0] in ("bioner", "metrics", "tests")):
                        continue
                    plain = []
                    for alias in child.names:
                        sub = f"{target}.{alias.name}"
                        if sub in files:
                            found.append(Import(module, sub, (), in_function, child.lineno))
                        else:
                            plain.append(alias.name)
                    if plain:
                        found.append(Import(module, target, tuple(plain), in_function, child.lineno))
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    visit(child, True)
                else:
                    visit(child, in_function)

        visit(tree, False)
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; the components of more than one module (or with a self-import) are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] == "metrics":
        return -1
    if parts[0] != "bioner" or module in FACADES or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def has_code(path: Path) -> bool:
    """Whether a file holds more than a docstring."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


def script_main_lines(path: Path) -> int:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            return node.end_lineno - node.lineno + 1
    return 0


def analyse(root: str | Path) -> Report:
    root = Path(root).resolve()
    files = project_files(root)
    report = Report(
        modules=sorted(m for m, path in files.items() if m.startswith("bioner") and has_code(path))
    )
    report.imports = collect_imports(files)
    graph: dict[str, set[str]] = {}
    for imp in report.imports:
        if imp.source != imp.target and imp.target in files:
            graph.setdefault(imp.source, set()).add(imp.target)
    report.cycles = strongly_connected(graph)
    for imp in report.imports:
        if any(name.startswith("_") and not name.startswith("__") for name in imp.names):
            report.private_imports.append(imp)
        source_leaf, target_leaf = imp.source.split(".")[-1], imp.target.split(".")[-1]
        if (
            imp.source.startswith("tests")
            and source_leaf.startswith("test_")
            and target_leaf.startswith("test_")
        ):
            report.test_to_test.append(imp)
        if imp.in_function and imp.source.split(".")[0] != "tests" and imp.target.split(".")[0] == "bioner":
            report.function_imports.append(imp)
        source_layer, target_layer = layer_of(imp.source), layer_of(imp.target)
        if imp.source.startswith("metrics") and imp.target.startswith("bioner"):
            report.layer_violations.append(imp)
        elif source_layer is not None and target_layer is not None and target_layer > source_layer:
            report.layer_violations.append(imp)
        elif source_layer is not None and imp.target in FACADES and imp.target != "bioner":
            report.layer_violations.append(imp)
    report.top_level_entries = sorted(
        p.name for p in (root / "bioner").iterdir() if p.name != "__pycache__" and not p.name.startswith(".")
    )
    report.script_main_lines = {
        script: script_main_lines(root / f"{script}.py")
        for script in SCRIPTS
        if (root / f"{script}.py").is_file()
    }
    return report


def describe(imp: Import) -> str:
    names = f" ({', '.join(imp.names)})" if imp.names else ""
    where = " inside a function" if imp.in_function else ""
    return f"{imp.source}:{imp.line} imports {imp.target}{names}{where}"


if __name__ == "__main__":
    checkout = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    found = analyse(checkout)
    print(json.dumps(found.figures(), indent=2))
    for title, items in (
        ("cycles", [" <-> ".join(c) for c in found.cycles]),
        ("private cross-module imports", map(describe, found.private_imports)),
        ("test-to-test imports", map(describe, found.test_to_test)),
        ("layer violations", map(describe, found.layer_violations)),
        ("function-level project imports", map(describe, found.function_imports)),
        ("script main lines", [f"{k}: {v}" for k, v in found.script_main_lines.items()]),
    ):
        print(f"\n{title}:")
        for item in items:
            print(f"  {item}")
