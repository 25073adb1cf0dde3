"""The code's floors: no import circles, and no floor imports the floors above it.

Read from the source (every `import`, at module level or inside a function), so a circle hidden
behind a function-level import counts too. `python tests/test_layers.py` prints the graph.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "workers", "emails")

# Who may import whom, lowest first: a module may import its own floor and the floors below it.
FLOORS = (
    (
        "ground",
        (
            "app.config",
            "app.mailservers",
            "app.sections",
            "app.clock",
            "app.errors",
            "app.logs",
            "app.migrate",
            "app.jobs",
            "app.models",
            "app.tokens",
            "app.weeks",
            "app.db",
            "emails",
        ),
    ),
    (
        "domain",
        (
            "app.readers",
            "app.posts",
            "app.ranking",
            "app.issues",
            "app.delivery",
            "app.tracking",
            "app.bounces",
            "app.accounts",
        ),
    ),
    ("edges", ("app.web", "app.demo", "app.cli", "workers")),
)


def module_names() -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `name` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first: a package's own
            # imports are a circle's hidden edge for every module outside that package.
            parent = target.rpartition(".")[0]
            while parent:
                if parent in known and not name.startswith(parent + "."):
                    yield parent
                parent = parent.rpartition(".")[0]


def import_graph() -> dict[str, set[str]]:
    known = module_names()
    return {name: set(imports_of(name, path, known)) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), i.e. import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def floor(name: str) -> int:
    if name == "app":
        return 0  # the bare package: nothing but its docstring
    for level, (_label, prefixes) in enumerate(FLOORS):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            return level
    raise AssertionError(f"{name} is on no floor: add it to FLOORS in tests/test_layers.py")


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_no_module_imports_a_floor_above_it() -> None:
    upward = sorted(
        f"{name} ({FLOORS[floor(name)][0]}) imports {target} ({FLOORS[floor(target)][0]})"
        for name, targets in import_graph().items()
        for target in targets
        if floor(target) > floor(name)
    )
    assert upward == []


def test_a_package_init_counts_for_its_submodules(tmp_path: Path) -> None:
    known = {"pkg": Path("pkg/__init__.py"), "pkg.sub": Path("pkg/sub.py"), "other": Path("o.py")}
    path = tmp_path / "other.py"
    path.write_text("from pkg.sub import thing\n", encoding="utf-8")
    assert set(imports_of("other", path, known)) == {"pkg.sub", "pkg"}


def test_the_checker_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


if __name__ == "__main__":
    graph = import_graph()
    for name in sorted(graph):
        print(f"{name} -> {', '.join(sorted(graph[name])) or '-'}")
    print("circles:", cycles(graph) or "none", file=sys.stderr)
