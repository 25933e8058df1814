"""The package's shape, as docs/concepts/architecture.md draws it: no import cycles, no import against the
layers, benchmarks on public names only, modules of a readable size. Each test reads the source (ast), so it
fails on the commit that breaks the rule."""

from __future__ import annotations

import ast
import collections
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "slimkit"

# Import layers, lowest first: a module may import only from its own unit or from units of lower layers (at
# module level; imports inside functions are for optional dependencies and are not counted).
LAYERS = [
    {"_version", "_arrays", "_utils", "_errors", "_integrity", "_matcheck", "_npz", "_safe_pickle", "metrics"},
    {"layouts", "config", "registry", "losses", "heads"},
    {"preprocessing", "hub", "viz"},
    {"data", "transforms", "windows", "export", "checks", "_hub_mixin"},
    {"model", "retrieval"},
    {"eval", "moments"},
    {"classifier", "train"},
    {"cli", "evaluation", "trainer", "mocap", "kindergator"},  # the command line; shims of old import paths
    {"__init__", "__main__"},  # entry points
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
# One cohesive class may be longer than the ~500-line rule (its methods share state and belong together).
LONG_OK = {"retrieval/index.py": "Retriever"}
MAX_LINES = 520


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Modules of slimkit that ``name`` imports at module level."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in mods]
            targets = subs if subs and len(subs) == len(node.names) else [mod, *subs]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in mods and t != name}
    return found


def _unit(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer():
    units = {_unit(n) for n in _modules()}
    assert units <= set(RANK), f"add these to LAYERS (and to the architecture page): {sorted(units - set(RANK))}"


def test_no_import_cycles():
    mods = _modules()
    graph = {n: _imports(n, p, mods) - {"slimkit"} for n, p in mods.items()}
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [n, m]))
            if m not in state:
                visit(m, stack + [n])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])


def test_no_import_against_the_layers():
    mods = _modules()
    upward = collections.defaultdict(set)
    for n, p in mods.items():
        for m in _imports(n, p, mods):
            a, b = _unit(n), _unit(m)
            if a != b and m != "slimkit" and RANK[b] >= RANK[a]:
                upward[f"{a} (layer {RANK[a]})"].add(f"{b} (layer {RANK[b]})")
    assert not upward, dict(upward)


def test_modules_stay_readable_in_size():
    long = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG).as_posix()
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES and rel not in LONG_OK:
            long[rel] = n
    assert not long, f"split these modules (or name the one cohesive class in LONG_OK): {long}"


def test_long_modules_are_one_class():
    for rel, cls in LONG_OK.items():
        tree = ast.parse((PKG / rel).read_text(encoding="utf-8"))
        body = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        biggest = max(body, key=lambda n: n.end_lineno - n.lineno)
        assert biggest.name == cls
        assert biggest.end_lineno - biggest.lineno > 0.6 * len((PKG / rel).read_text().splitlines())


def test_benchmarks_examples_and_scripts_use_public_names_only():
    private = []
    for folder in ("benchmarks", "examples", "scripts"):
        for p in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("slimkit"):
                    mod_private = any(part.startswith("_") for part in node.module.split("."))
                    names = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
                    if mod_private or names:
                        private.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.module} {names}")
                elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                    base = node.value
                    while isinstance(base, ast.Attribute):
                        base = base.value
                    if isinstance(base, ast.Name) and base.id == "slimkit":
                        private.append(f"{p.relative_to(ROOT)}:{node.lineno} slimkit...{node.attr}")
    assert not private, private


SHIMS = {  # old import path -> its new home
    "slimkit.trainer": "slimkit.train",
    "slimkit.evaluation": "slimkit.eval",
    "slimkit.mocap": "slimkit.data.mocap",
    "slimkit.kindergator": "slimkit.data.kindergator",
}


@pytest.mark.parametrize("old, new", sorted(SHIMS.items()))
def test_old_import_paths_warn_and_reexport_the_same_objects(old, new):
    sys.modules.pop(old, None)  # a fresh import, so its warning is raised whichever test imported it first
    with pytest.warns(DeprecationWarning, match=f"{old} is kept for one release; import from "):
        shim = importlib.import_module(old)
    home = importlib.import_module(new)
    assert shim.__all__
    for name in shim.__all__:
        if hasattr(home, name):
            assert getattr(shim, name) is getattr(home, name), name


def test_nothing_in_the_package_or_its_tools_uses_an_old_path():
    old = tuple(SHIMS)
    users = []
    for folder in ("slimkit", "benchmarks", "examples", "scripts"):
        for p in (ROOT / folder).rglob("*.py"):
            if ".".join(p.relative_to(ROOT).with_suffix("").parts) in SHIMS:
                continue
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                mods = [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                users += [f"{p.relative_to(ROOT)}:{node.lineno} {m}" for m in mods if m.startswith(old)]
    assert not users, users


def test_every_public_name_resolves_and_load_dataset_is_load():
    import slimkit

    for name in slimkit.__all__:
        assert getattr(slimkit, name) is not None, name
    assert slimkit.load_dataset is slimkit.load is importlib.import_module("slimkit.data").load
