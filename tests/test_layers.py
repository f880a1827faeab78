"""The project's layers import one way (README, "A map of the code"):

    bot.core  <-  models  <-  handlers  <-  jobs  <-  bot (the running program)

The kernel (`bot/core`) imports nothing else from the project; `models` the kernel; handlers
the kernel and the models; jobs all of those; the program everything. Handlers' parser
(`handlers/parsing`) stays pure: the kernel, the catalog values and itself. And no module
imports, through any path, back into itself. Every import counts, at the top of a module or
inside a function; imports only for type checking too (they are still a dependency)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "models", "jobs")
# A module's layer is the longest of these prefixes it starts with; lower imports nothing higher.
RANKS = {"bot.core": 0, "models": 1, "handlers": 2, "jobs": 3, "bot": 4}
# Narrower rules inside a layer: a module under the prefix imports only these (and itself).
ONLY = {
    "handlers.parsing": ("bot.core", "models.catalog", "handlers.parsing"),
}


def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Every project module `source` imports, by absolute name (relative imports resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            # `from pkg import module` is that module; `from module import name`, the module
            # (graph() shortens a name to the longest module it names).
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name imported from a module counts as that
    module; a submodule imported from a package counts as the submodule)."""
    edges: dict[str, set[str]] = {}
    for module, path in found.items():
        targets = set()
        for name in imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            while name and name not in found:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        edges[module] = targets
    return edges


def _prefixed(module: str, prefixes: Iterable[str]) -> str | None:
    matches = [p for p in prefixes if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def rank(module: str) -> int:
    prefix = _prefixed(module, RANKS)
    assert prefix is not None, module
    return RANKS[prefix]


def wrong_way(edges: dict[str, set[str]]) -> list[str]:
    """Each import that runs up a layer or out of a narrower rule, as 'a -> b'."""
    wrong = []
    for module, targets in sorted(edges.items()):
        only = _prefixed(module, ONLY)
        for target in sorted(targets):
            if rank(target) > rank(module):
                wrong.append(f"{module} -> {target} (layer {rank(module)} imports layer {rank(target)})")
            elif only is not None and _prefixed(target, ONLY[only]) is None:
                wrong.append(f"{module} -> {target} ({only} imports only {', '.join(ONLY[only])})")
    return wrong


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_import_runs_down_the_layers() -> None:
    edges = graph(modules())
    assert len(edges) > 50 and sum(map(len, edges.values())) > 100  # the tree was read
    assert wrong_way(edges) == []


def test_no_module_imports_back_into_itself() -> None:
    assert circles(graph(modules())) == []


def test_the_kernel_imports_nothing_else_of_the_project() -> None:
    edges = graph(modules())
    kernel = {m: t for m, t in edges.items() if rank(m) == 0}
    assert kernel and all(rank(target) == 0 for targets in kernel.values() for target in targets)


# -- the checker itself ---------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small project of the same shape, every import the right way."""
    files = {
        "bot/__init__.py": "",
        "bot/core/__init__.py": "",
        "bot/core/clock.py": "import datetime\n",
        "bot/app.py": "from jobs.runner import run\nfrom handlers import orders\n",
        "models/__init__.py": "",
        "models/catalog.py": "from bot.core.clock import x\n",
        "models/orders.py": "from . import catalog\n",
        "handlers/__init__.py": "",
        "handlers/orders.py": "from models.orders import book\n",
        "handlers/parsing/__init__.py": "",
        "handlers/parsing/lexer.py": "from models.catalog import Offer\nfrom .text import fold\n",
        "handlers/parsing/text.py": "",
        "jobs/__init__.py": "",
        "jobs/runner.py": "from handlers.orders import x\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_the_checker_passes_a_tree_that_imports_down(tree: Path) -> None:
    edges = graph(modules(tree))
    assert edges["models.orders"] == {"models.catalog"}  # a relative import, resolved
    assert edges["handlers.parsing.lexer"] == {"models.catalog", "handlers.parsing.text"}
    assert wrong_way(edges) == [] and circles(edges) == []


def test_the_checker_catches_a_reversed_import(tree: Path) -> None:
    # Inside a function, as a late import would hide it.
    (tree / "models/orders.py").write_text("def f():\n    from bot.app import Bot\n", encoding="utf-8")
    (tree / "handlers/parsing/text.py").write_text("from models import orders\n", encoding="utf-8")
    assert wrong_way(graph(modules(tree))) == [
        "handlers.parsing.text -> models.orders (handlers.parsing imports only bot.core, models.catalog, "
        "handlers.parsing)",
        "models.orders -> bot.app (layer 1 imports layer 4)",
    ]


def test_the_checker_catches_a_circle_within_a_layer(tree: Path) -> None:
    (tree / "handlers/parsing/text.py").write_text("from handlers.parsing.lexer import lex\n", encoding="utf-8")
    assert circles(graph(modules(tree))) == [["handlers.parsing.lexer", "handlers.parsing.text"]]
