"""The package's layers: which of its modules each one may import, read from the source with ``ast``."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import azure_dicom_emulator

PACKAGE = "azure_dicom_emulator"
ROOT = Path(azure_dicom_emulator.__file__).resolve().parent
MAX_LINES = 400
ABOVE_FEATURES = {"api", "app", "wiring", "cli", "entry", "__main__"}
DATABASE_LIBRARIES = {"sqlalchemy", "alembic", "asyncpg", "aiosqlite", "sqlite3"}


def _module_name(path: Path) -> str:
    parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module and package of ours, by dotted name."""
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imported(name: str, tree: ast.Module) -> set[str]:
    """The modules that the module ``name`` imports anywhere in it (in functions too), relative imports resolved."""
    is_package = _modules()[name].name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in _modules() else target)
    return found


def _is_ours(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


@cache
def _all_imports() -> dict[str, set[str]]:
    """What each module of ours imports, ours or not."""
    return {name: _imported(name, ast.parse(path.read_text(), str(path))) for name, path in _modules().items()}


@cache
def _imports() -> dict[str, set[str]]:
    """What each module of ours imports of ours."""
    return {name: {module for module in imported if _is_ours(module)} for name, imported in _all_imports().items()}


def _layer(module: str) -> str:
    """The first name under the package: ``dicom`` for ``azure_dicom_emulator.dicom.part10``."""
    return module.removeprefix(PACKAGE + ".").split(".")[0]


def _layers() -> set[str]:
    return {_layer(module) for module in _modules()}


def _crossings(layer: str, allowed: set[str]) -> list[str]:
    """Each import from a module of ``layer`` into a layer outside ``allowed``, as ``importer -> imported``."""
    return sorted(
        f"{importer} -> {imported}"
        for importer, imported_modules in _imports().items()
        if _layer(importer) == layer
        for imported in imported_modules
        if _layer(imported) not in allowed
    )


def test_every_import_of_ours_names_a_module_that_exists():
    unresolved = sorted(
        f"{importer} -> {imported}"
        for importer, imported_modules in _imports().items()
        for imported in imported_modules
        if imported not in _modules()
    )
    assert not unresolved, "\n".join(unresolved)


def test_imports_are_found_at_any_depth_and_relative_ones_are_resolved():
    """Guards the rules below against an import reader that sees nothing."""
    tree = ast.parse("def later():\n    from ..storage import blobs\n    from . import context\n")
    assert _imported(f"{PACKAGE}.api.retrieve", tree) == {f"{PACKAGE}.storage.blobs", f"{PACKAGE}.api.context"}
    tree = ast.parse("import json\nfrom sqlalchemy import select\nfrom .. import partitions\n")
    assert _imported(f"{PACKAGE}.features.store.service", tree) == {
        "json",
        "sqlalchemy",
        f"{PACKAGE}.features.partitions",
    }


def test_dicom_imports_nothing_of_ours_but_dicom():
    crossings = _crossings("dicom", {"dicom"})
    assert not crossings, "\n".join(crossings)


def test_settings_import_nothing_of_ours_but_settings():
    crossings = _crossings("settings", {"settings"})
    assert not crossings, "\n".join(crossings)


def test_storage_imports_only_storage_and_dicom():
    crossings = _crossings("storage", {"storage", "dicom"})
    assert not crossings, "\n".join(crossings)


def test_runtime_imports_only_runtime():
    crossings = _crossings("runtime", {"runtime"})
    assert not crossings, "\n".join(crossings)


def test_features_never_import_the_api_the_app_or_the_entry_points():
    crossings = _crossings("features", _layers() - ABOVE_FEATURES)
    assert not crossings, "\n".join(crossings)


def test_the_api_never_imports_storage():
    crossings = _crossings("api", _layers() - {"storage"})
    assert not crossings, "\n".join(crossings)


def test_the_api_never_talks_to_the_database_itself():
    database = sorted(
        f"{importer} -> {imported}"
        for importer, imported_modules in _all_imports().items()
        if _layer(importer) == "api"
        for imported in imported_modules
        if imported.split(".")[0] in DATABASE_LIBRARIES
    )
    assert not database, "\n".join(database)


def test_a_capability_imports_a_sibling_capability_only_through_its_package():
    capabilities = {
        module
        for module, path in _modules().items()
        if module.startswith(f"{PACKAGE}.features.") and module.count(".") == 2 and path.name == "__init__.py"
    }

    def capability_of(module: str) -> str | None:
        return next((c for c in capabilities if module == c or module.startswith(c + ".")), None)

    reaching_in = sorted(
        f"{importer} -> {imported}"
        for importer, imported_modules in _imports().items()
        if capability_of(importer)
        for imported in imported_modules
        if capability_of(imported) not in (None, capability_of(importer)) and imported not in capabilities
    )
    assert not reaching_in, "\n".join(reaching_in)


def test_no_module_is_over_400_lines_migrations_aside():
    migrations = ROOT / "storage" / "migrations"
    too_long = sorted(
        f"{name}: {lines} lines"
        for name, path in _modules().items()
        if not path.is_relative_to(migrations) and (lines := len(path.read_text().splitlines())) > MAX_LINES
    )
    assert not too_long, "\n".join(too_long)
