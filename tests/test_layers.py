"""The package's layering: no import cycle between its modules, and the pure functions import torch alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "wgangp"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """The wgangp modules `path` imports when it is imported (statements at module level, not in functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wgangp"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("wgangp"))
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {module_name(p): top_level_imports(p) for p in PACKAGE.rglob("*.py") if "conf" not in p.parts}
    # `from wgangp.data.base import X` also runs wgangp/data/__init__.py: a package depends on nothing extra here
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                found.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_no_module_of_the_package_imports_itself_back():
    assert cycles(import_graph()) == []


def test_a_cycle_is_found_where_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_the_penalty_and_the_losses_import_torch_alone():
    code = (
        "import sys, wgangp.penalties, wgangp.losses;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hydra', 'omegaconf', 'lightning', 'torchvision'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO / "src", check=True)
    assert out.stdout.strip() == "[]"
