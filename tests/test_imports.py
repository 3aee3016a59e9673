"""The package's dependency direction: no import cycles, each layer imports only itself and the layers below,
and the CLI's help and `tfcomp zoo` start without TensorFlow."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from conftest import REPO

PACKAGE = os.path.join(REPO, "tfcomp")
# Lowest first. A module may import modules of its own layer and of the layers below it.
LAYERS = (
    ("tfcomp", "tfcomp.errors", "tfcomp.measures", "tfcomp.report", "tfcomp.reference", "tfcomp.samples",
     "tfcomp.layers"),
    ("tfcomp.data", "tfcomp.models"),
    ("tfcomp.zoo",),
    ("tfcomp.codecs",),
    ("tfcomp.registry",),
    ("tfcomp.training", "tfcomp.evaluation", "tfcomp.export"),
    ("tfcomp.vote",),
    ("tfcomp.cli", "tfcomp.__main__"),
)


def _modules() -> dict[str, str]:
    """Module name -> file of every module of the package."""
    found = {}
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                found[module.removesuffix(".__init__")] = path
    return found


def _target(name: str, modules: dict) -> str | None:
    """The package module an imported name belongs to (None for names outside the package)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, dict[str, set[str]]]:
    """{module: {"module": imports at module level, "function": imports inside functions}}, package only."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        edges = {"module": set(), "function": set()}

        def visit(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                names = []
                if isinstance(child, ast.Import):
                    names = [alias.name for alias in child.names]
                elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                    names = [f"{child.module}.{alias.name}" for alias in child.names]
                for name in names:
                    target = _target(name, modules) if name.startswith("tfcomp") else None
                    if target and target != module:
                        edges["function" if inner else "module"].add(target)
                visit(child, inner)

        with open(path) as f:
            visit(ast.parse(f.read()), False)
        graph[module] = edges
    return graph


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of a graph, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(edges):
        if start not in state and (found := walk(start)):
            return found
    return None


def _layer(module: str) -> int:
    for rank, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members if m != "tfcomp") or module == "tfcomp":
            return rank
    raise AssertionError(f"{module} is in no layer of LAYERS")


def test_no_import_cycles():
    graph = import_graph()
    assert _cycle({m: e["module"] for m, e in graph.items()}) is None
    # Imports inside functions too: a lazy import still makes the two modules depend on each other.
    assert _cycle({m: e["module"] | e["function"] for m, e in graph.items()}) is None


def test_imports_point_down_the_layers():
    wrong = [f"{module} -> {target}" for module, edges in import_graph().items()
             for target in edges["module"] | edges["function"] if _layer(target) > _layer(module)]
    assert not wrong, "imports against the dependency direction: " + ", ".join(sorted(wrong))


def test_the_checks_see_cycles_and_layers():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    assert _layer("tfcomp.cli.main") > _layer("tfcomp.registry") > _layer("tfcomp.codecs.learned") \
        > _layer("tfcomp.zoo") > _layer("tfcomp.models.bls2017") > _layer("tfcomp.layers.exact")


@pytest.mark.parametrize("args", [["--help"], ["zoo"], ["compress", "--help"], ["zoo", "--json"]])
def test_cli_without_tensorflow(args):
    """`python -X importtime -m tfcomp ARGS` lists every module it imports: none of TensorFlow's."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tfcomp", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "tfcomp.cli.main" in imported
    assert not [m for m in imported if m.split(".")[0] in ("tensorflow", "tensorflow_compression", "keras")]
