"""The house's plan stays true: shared/'s layers only import downwards, with no cycles, and each
subpackage's ``__init__`` is only the docstring that maps it (importing a package costs nothing)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"

# From the bottom up; a module may import only from a lower layer, or from its own package without a cycle.
LAYERS: list[set[str]] = [
    {"reasons", "hosts"},
    {"errors", "http", "iocounts"},
    {"origins"},
    {"setting_values"},
    {"settings", "telemetry"},
    {"storage"},
    {"jose"},
    {"keystores", "tokens"},
    {"tenants", "billers"},
    {"payers"},
    {"app"},
    {"web"},
]
RANK = {group: rank for rank, groups in enumerate(LAYERS) for group in groups}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(SHARED.rglob("*.py"))}


def imported(path: Path, names: set[str]) -> set[str]:
    """Every shared module ``path`` imports, anywhere in it (TYPE_CHECKING blocks and functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; shared/ imports absolutely"
            base = node.module or ""
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names}
    return {name for name in found if name in names and name != "shared"}


def group(module: str) -> str:
    return module.split(".")[1]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, set(known)) for name, path in known.items()}


def test_every_module_has_a_layer() -> None:
    assert {group(name) for name in modules() if name != "shared"} <= set(RANK)


def test_imports_only_go_down() -> None:
    upward = [
        f"{importer} imports {target}"
        for importer, targets in graph().items()
        if importer != "shared"
        for target in targets
        if group(target) != group(importer) and RANK[group(target)] >= RANK[group(importer)]
    ]
    assert not upward


def test_there_is_no_import_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in edges[name]:
            visit(target, (*path, name))
        done.add(name)

    for name in edges:
        visit(name, ())


@pytest.mark.parametrize("package", sorted(p.parent.name for p in SHARED.glob("*/__init__.py")))
def test_a_package_init_is_only_its_map(package: str) -> None:
    tree = ast.parse((SHARED / package / "__init__.py").read_text())
    assert len(tree.body) == 1
    assert isinstance(tree.body[0], ast.Expr)
    assert isinstance(tree.body[0].value, ast.Constant)
    listed = tree.body[0].value.value
    assert isinstance(listed, str)
    for module in sorted((SHARED / package).glob("*.py")):
        if module.stem != "__init__":
            assert f"``{module.stem}``" in listed, f"shared/{package}/__init__.py does not map {module.stem}"


def test_the_readme_layout_lists_every_module() -> None:
    """Each module of shared/ and tools/ is named in the README's layout, in its folder's entry."""
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    layout = layout[: layout.index("```", layout.index("```") + 3)]
    missing = []
    for path in sorted([*SHARED.rglob("*.py"), *(ROOT / "tools").glob("*.py")]):
        if path.parent == ROOT / "tools":
            named = path.name == "__init__.py" or f"tools/{path.name}" in layout
        elif path.parent == SHARED:
            named = f"  {path.name}" in layout
        else:
            entry = layout[layout.index(f"\n  {path.parent.name}/") + 1 :]
            following = re.search(r"\n( ? ?\S)", entry)  # the next entry: at most two spaces in
            named = path.name in entry[: following.start() if following else len(entry)]
        if not named:
            missing.append(str(path.relative_to(ROOT)))
    assert missing == []
