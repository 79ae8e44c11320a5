"""The structure docs/architecture.md describes: one-way layers, no import cycles, small files and functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src"
PACKAGE = SRC / "gnrcnn"

# Bottom to top; a module may import from its own layer and the ones below, never from above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("records", ("gnrcnn.structures", "gnrcnn.errors", "gnrcnn.fileio", "gnrcnn.progress", "gnrcnn.coco_results",
                 "gnrcnn.zoo", "gnrcnn.runtime", "gnrcnn.output_dir", "gnrcnn.distributed", "gnrcnn.version",
                 "gnrcnn.config.schema", "gnrcnn.config.coco_classes", "gnrcnn.config")),
    ("data, weights and pictures", ("gnrcnn.config.loader", "gnrcnn.data", "gnrcnn.weights", "gnrcnn.visualize")),
    ("modeling", ("gnrcnn.modeling",)),
    ("build", ("gnrcnn.build",)),
    ("jobs", ("gnrcnn.predict", "gnrcnn.evaluation", "gnrcnn.train", "gnrcnn.export", "gnrcnn.analysis",
              "gnrcnn.labels")),
    ("tools and studies", ("gnrcnn.tools", "gnrcnn.study")),
    ("api, cli and serve", ("gnrcnn.api", "gnrcnn.cli", "gnrcnn.serve", "gnrcnn.__main__", "gnrcnn")),
]  # fmt: skip
MAX_MODULES_PER_FOLDER = 20


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
            # ``from . import common`` names a submodule; ``from .x import y`` and ``from .. import __version__``
            # (a name that is no submodule) name the package x or the package itself, whose __init__ runs
            out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in out if m in MODULES and m != module}


def upward(module: str, targets: set[str]) -> list[str]:
    return [f"{module} ({LAYERS[layer_of(module)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
            for t in sorted(targets) if layer_of(t) > layer_of(module)]  # fmt: skip


def test_every_module_imports_only_its_layer_and_below() -> None:
    found = [line for module in sorted(MODULES) for line in upward(module, imports_of(module))]
    assert not found, "\n".join(found)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
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
        if m not in state and (cycle := visit(m, [])):
            return cycle[cycle.index(cycle[-1]) :]
    return None


def top_level(module: str) -> str:
    """``gnrcnn.train.trainer`` -> ``gnrcnn.train``; a module at the top (``gnrcnn.runtime``) is its own."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycles() -> None:
    cycle = find_cycle({m: imports_of(m) for m in MODULES})
    assert cycle is None, " -> ".join(cycle)


def test_no_cycles_between_top_level_folders() -> None:
    graph: dict[str, set[str]] = {top_level(m): set() for m in MODULES}
    for m in MODULES:
        graph[top_level(m)] |= {top_level(t) for t in imports_of(m)} - {top_level(m)}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_no_folder_holds_more_than_20_modules() -> None:
    folders = [p for p in [PACKAGE, *PACKAGE.rglob("*")] if p.is_dir() and (p / "__init__.py").exists()]
    counts = {str(f.relative_to(SRC)): len([p for p in f.glob("*.py") if p.name != "__init__.py"]) for f in folders}
    crowded = {folder: n for folder, n in counts.items() if n > MAX_MODULES_PER_FOLDER}
    assert not crowded, crowded


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_and_functions_stay_small(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 300, f"{path.name}: {len(text.splitlines())} lines"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 50]  # fmt: skip
    assert not long, f"{path.name}: {', '.join(long)}"


def test_the_checker_catches_upward_imports_of_every_form() -> None:
    """The layer test can fail: relative, absolute, lazy and TYPE_CHECKING imports upward are all caught, and so is
    ``from .. import name`` of a name that is no submodule (it runs the package root, which imports everything)."""
    text = """
from typing import TYPE_CHECKING
from ..modeling import MaskRCNN
import gnrcnn.train.trainer
from .. import __version__
if TYPE_CHECKING:
    from ..api import load_model
def f():
    from ..predict import files
"""
    found = upward("gnrcnn.data.coco", imports_in(text, "gnrcnn.data.coco"))
    assert [line.split(" imports ")[1].split()[0] for line in found] == [
        "gnrcnn", "gnrcnn.api", "gnrcnn.modeling", "gnrcnn.predict.files", "gnrcnn.train.trainer"]  # fmt: skip
    down = imports_in("from ..data.coco import CocoDataset\nfrom .. import runtime", "gnrcnn.train.trainer")
    assert down == {"gnrcnn.data.coco", "gnrcnn.runtime"} and not upward("gnrcnn.train.trainer", down)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


TESTS = Path(__file__).parent
STORIES = "stories"  # end-to-end walks through several jobs (docs/finetune.md's, a published model by name)


def test_tests_mirror_the_source_tree() -> None:
    """Every source folder has its test folder (tests/predict/ for src/gnrcnn/predict/), each with tests in it, and
    every test folder but the stories' mirrors a source folder: a module's tests are found by its path."""
    sources = {p.relative_to(PACKAGE) for p in PACKAGE.rglob("*") if (p / "__init__.py").exists()}
    tests = {p.relative_to(TESTS) for p in TESTS.rglob("*") if p.is_dir() and any(p.glob("test_*.py"))}
    missing = sorted(str(s) for s in sources - tests)
    extra = sorted(str(t) for t in tests - sources - {Path(STORIES)})
    assert not missing, f"source folders without a test folder (tests/<folder>/test_*.py): {missing}"
    assert not extra, f"test folders that mirror no source folder: {extra}"
