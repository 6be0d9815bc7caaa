"""The house rules: which package may import which, and no import cycles between modules.

Data flows one way (docs/architecture.md): config -> city -> model -> experiments ->
reports, with storage (results) importing only config. A change that breaks the rule
fails here with the file and the import that breaks it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"

MAY_IMPORT = {
    "config": set(),
    "city": {"config"},
    "model": {"city", "config"},
    "results": {"config"},
    "experiments": {"model", "city", "config", "results"},
    "reports": {"experiments", "results", "model", "city", "config"},
}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(module, at top level)`` for every import of a ``simulator`` module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [(name, id(node) in top_level) for name in names if name.startswith("simulator.")]
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_packages_import_only_the_layers_below(package: str) -> None:
    broken = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for module, _ in _imports(path):
            other = module.split(".")[1]
            if other != package and other not in MAY_IMPORT[package]:
                broken.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert not broken, f"simulator.{package} may import only {sorted(MAY_IMPORT[package])}: " + "; ".join(broken)


def test_no_import_cycles_between_modules() -> None:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for module, top_level in _imports(path):
            if not top_level:
                continue
            while module not in modules and "." in module:
                module = module.rsplit(".", 1)[0]
            if module in modules and module != name and not name.startswith(module + "."):
                targets.add(module)
        graph[name] = targets
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_modules_stay_small() -> None:
    large = [
        f"{path.relative_to(PACKAGE.parent)} ({count} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > 650
    ]
    assert not large, "modules over about 600 lines: " + ", ".join(large)
