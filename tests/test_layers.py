"""The layers run one way: ``costtrack.core`` below every app, the apps in their order, and
the rest of the project package (urls, pages, commands that span apps) the roof that nothing
imports. Every import statement of the code is read, those inside functions included."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("orgunits", "costs", "budgets", "allocation", "notifications", "recommendations")

# What each layer may import besides itself (and third-party code).
ALLOWED = {
    "core": set(),
    "notifications": {"core"},
    "orgunits": {"core", "notifications"},
    "costs": {"core", "orgunits", "notifications"},
    "budgets": {"core", "orgunits", "costs", "notifications"},
    "allocation": {"core", "orgunits", "costs", "notifications"},
    "recommendations": {"core", "orgunits", "costs", "budgets", "allocation", "notifications"},
    "roof": {"core", *APPS},
}


def _layer_of_module(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "costtrack":
        return "core" if parts[1:2] == ["core"] else "roof"
    return parts[0] if parts[0] in APPS else None


def _layer_of_path(path: Path) -> str:
    rel = path.relative_to(ROOT).parts
    if rel[0] == "costtrack":
        return "core" if rel[1:2] == ("core",) else "roof"
    return rel[0]


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def _imports_across_layers() -> list[tuple[str, str, str, int, str]]:
    edges = []
    for top in ("costtrack", *APPS):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            source = _layer_of_path(path)
            for line, module in _imported_modules(path):
                target = _layer_of_module(module)
                if target is not None and target != source:
                    edges.append((source, target, str(path.relative_to(ROOT)), line, module))
    return edges


def test_the_scan_sees_the_imports_between_layers():
    layers = {(source, target) for source, target, *_ in _imports_across_layers()}
    # Known imports in the right direction: a scan that found none would prove nothing.
    assert {("costs", "orgunits"), ("budgets", "costs"), ("roof", "costs"), ("costs", "core")} <= (
        layers
    )


def test_no_layer_imports_one_above_it():
    wrong = [
        f"{path}:{line} imports {module} ({source} may not use {target})"
        for source, target, path, line, module in _imports_across_layers()
        if target not in ALLOWED[source]
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("costtrack.core.money", "core"),
        ("costtrack.bench", "roof"),
        ("costtrack", "roof"),
        ("costs.imports.load", "costs"),
        ("django.db", None),
    ],
)
def test_modules_are_put_in_their_layer(module, layer):
    assert _layer_of_module(module) == layer
