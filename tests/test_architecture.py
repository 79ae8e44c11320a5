"""The structure docs/architecture.md describes: one-way layers, no import cycles, small files and functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src"
PACKAGE = SRC / "gnrcnn"

# Bottom to top; a module may import from its own layer and the ones below, never from above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("records", ("gnrcnn.structures", "gnrcnn.errors", "gnrcnn.fileio", "gnrcnn.coco_classes", "gnrcnn.coco_results",
                 "gnrcnn.zoo", "gnrcnn.runtime", "gnrcnn.config.schema", "gnrcnn.config")),
    ("data and weights", ("gnrcnn.config.loader", "gnrcnn.data", "gnrcnn.weights")),
    ("modeling", ("gnrcnn.modeling",)),
    ("engine", ("gnrcnn.engine",)),
    ("tools and studies", ("gnrcnn.study",)),
    ("api, cli and serve", ("gnrcnn.api", "gnrcnn.cli", "gnrcnn.serve", "gnrcnn.__main__", "gnrcnn")),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    """The layer of the most specific prefix that names it."""
    best = max(((len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), default=None)  # fmt: skip
    assert best is not None, f"{module} is in no layer of this test (and of docs/architecture.md)"
    return best[1]


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    return imports_in(path.read_text(), module, path.name == "__init__.py")


def imports_in(text: str, module: str, is_package: bool = False) -> set[str]:
    """Every gnrcnn module ``text`` imports: at the top, inside functions and under TYPE_CHECKING alike."""
    package = module if is_package else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gnrcnn")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("gnrcnn"):
                continue
            # ``from . import common`` names a submodule; ``from .x import y`` names module x
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
            out |= subs or {base}
    return {m for m in out if m in MODULES and m != module}


def upward(module: str, targets: set[str]) -> list[str]:
    return [f"{module} ({LAYERS[layer_of(module)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
            for t in sorted(targets) if layer_of(t) > layer_of(module)]  # fmt: skip


def test_every_module_imports_only_its_layer_and_below() -> None:
    found = [line for module in sorted(MODULES) for line in upward(module, imports_of(module))]
    assert not found, "\n".join(found)


def test_no_import_cycles() -> None:
    graph = {m: imports_of(m) for m in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                return [*path, m, t]
            if t not in state and (cycle := visit(t, [*path, m])):
                return cycle
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m, [])
            assert cycle is None, " -> ".join(cycle[cycle.index(cycle[-1]) :])


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_and_functions_stay_small(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 300, f"{path.name}: {len(text.splitlines())} lines"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 50]  # fmt: skip
    assert not long, f"{path.name}: {', '.join(long)}"


def test_the_checker_catches_upward_imports_of_every_form() -> None:
    """The layer test can fail: relative, absolute, lazy and TYPE_CHECKING imports upward are all caught."""
    text = """
from typing import TYPE_CHECKING
from ..modeling import MaskRCNN
import gnrcnn.engine.trainer
if TYPE_CHECKING:
    from ..api import load_model
def f():
    from ..engine import predict
"""
    found = upward("gnrcnn.data.coco", imports_in(text, "gnrcnn.data.coco"))
    assert [line.split(" imports ")[1].split()[0] for line in found] == [
        "gnrcnn.api", "gnrcnn.engine.predict", "gnrcnn.engine.trainer", "gnrcnn.modeling"]  # fmt: skip
    down = imports_in("from ..data.coco import CocoDataset", "gnrcnn.engine.trainer")
    assert down == {"gnrcnn.data.coco"} and not upward("gnrcnn.engine.trainer", down)
