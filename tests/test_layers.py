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


def runtime_imports(path: Path) -> set[str]:
    """The wgangp modules `path` imports when it runs: at module level or inside a function (a function-level
    import only hides a cycle), not under `if TYPE_CHECKING:` (annotations only)."""
    tree = ast.parse(path.read_text())
    annotation_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in annotation_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wgangp"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("wgangp"))
    return found


def import_graph(unit=lambda module: module) -> dict[str, set[str]]:
    """Which unit imports which: modules, or with `unit` their layers (wgangp.evaluation, wgangp.sampling, ...)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "conf" in path.parts:
            continue
        graph.setdefault(unit(module_name(path)), set()).update(unit(d) for d in runtime_imports(path))
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def layer(module: str) -> str:
    return ".".join(module.split(".")[:2])  # wgangp.evaluation.quality -> wgangp.evaluation


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


def test_the_layers_import_downwards_only():
    """e.g. sampling uses evaluation's inputs, so nothing in evaluation may import sampling."""
    assert cycles(import_graph(layer)) == []


def test_a_cycle_is_found_where_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_the_penalty_and_the_losses_import_torch_alone():
    code = (
        "import sys, wgangp.penalties, wgangp.losses;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hydra', 'omegaconf', 'lightning', 'torchvision'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO / "src", check=True)
    assert out.stdout.strip() == "[]"


def test_evaluators_know_a_run_through_their_context_alone():
    """Nothing the evaluators import, directly or through other modules, is an objective (the LightningModule), an
    entry point or what builds them: seed, latent prior, classes and run config come in the EvalContext the
    callback, src/eval.py and wgangp.sample build alike (wgangp.evaluation.context)."""
    graph = import_graph()
    reached, todo = set(), [m for m in graph if layer(m) == "wgangp.evaluation"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    above = {"wgangp.objectives", "wgangp.sampling", "wgangp.eval", "wgangp.train", "wgangp.build", "wgangp.cli"}
    assert "wgangp.evaluation.context" in reached and not {m for m in reached if layer(m) in above}
