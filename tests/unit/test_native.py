"""The compiled scoring domain: which build runs, and that a stale one never does."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services import native

MODULE = "pkg.rules"


def _module_tree(root: Path, *, compiled: bool) -> Path:
    source = root / "pkg" / "rules.py"
    source.parent.mkdir()
    source.write_text("RULE = 1\n")
    if compiled:  # only its name matters to the guard
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        (root / "pkg" / f"rules{suffix}").write_bytes(b"")
    return source


def test_a_build_of_the_current_source_is_not_stale(tmp_path: Path) -> None:
    source = _module_tree(tmp_path, compiled=True)
    recorded = {MODULE: native.digest(source)}
    assert native.stale_sources(recorded, [MODULE], tmp_path) == []


def test_a_source_changed_after_its_build_is_stale(tmp_path: Path) -> None:
    source = _module_tree(tmp_path, compiled=True)
    recorded = {MODULE: native.digest(source)}
    source.write_text("RULE = 2\n")
    assert native.stale_sources(recorded, [MODULE], tmp_path) == [MODULE]


def test_an_extension_the_build_did_not_record_is_stale(tmp_path: Path) -> None:
    _module_tree(tmp_path, compiled=True)
    assert native.stale_sources({}, [MODULE], tmp_path) == [MODULE]


def test_a_module_without_an_extension_is_never_stale(tmp_path: Path) -> None:
    _module_tree(tmp_path, compiled=False)
    assert native.stale_sources({}, [MODULE], tmp_path) == []


def test_a_manifest_for_another_python_records_nothing(tmp_path: Path) -> None:
    manifest = tmp_path / "native.json"
    manifest.write_text(json.dumps({"python": "cpython-00", "sources": {MODULE: "x"}}))
    assert native.read_manifest(manifest) == {}
    manifest.write_text(
        json.dumps({"python": sys.implementation.cache_tag, "sources": {MODULE: "x"}})
    )
    assert native.read_manifest(manifest) == {MODULE: "x"}
    assert native.read_manifest(tmp_path / "missing.json") == {}


@pytest.mark.parametrize(
    ("value", "pure"), [("1", True), ("true", True), ("yes", True), ("0", False), ("", False)]
)
def test_pure_python_is_asked_for_by_the_environment(value: str, pure: bool) -> None:
    assert native.wanted_pure({native.PURE_PYTHON_VARIABLE: value}) is pure


def _import_in_a_fresh_interpreter(
    pure: bool, manifest: Path | None = None
) -> tuple[dict[str, str], str]:
    """Where a fresh interpreter imports the scoring modules from (with the build's manifest
    read from `manifest` instead), and what it logged."""
    environ = {k: v for k, v in os.environ.items() if k != native.PURE_PYTHON_VARIABLE}
    if pure:
        environ[native.PURE_PYTHON_VARIABLE] = "1"
    code = (
        "import importlib, json, pathlib, sys; from services import native\n"
        "if len(sys.argv) > 1: native.MANIFEST = pathlib.Path(sys.argv[1])\n"
        "print(json.dumps({m: importlib.import_module(m).__file__ for m in native.MODULES}))"
    )
    arguments = [] if manifest is None else [str(manifest)]
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout)), done.stderr


def _imported_from(pure: bool) -> dict[str, str]:
    files, logged = _import_in_a_fresh_interpreter(pure)
    assert "changed since it was compiled" not in logged
    return files


def _skip_unless_compiled() -> None:
    if not all(native.extension_of(m) for m in native.MODULES) and not os.environ.get("CI"):
        pytest.skip("not compiled here (python -m services.native build)")


def test_pure_python_runs_the_sources() -> None:
    files = _imported_from(pure=True)
    assert all(path.endswith(".py") for path in files.values()), files


def test_the_build_runs_compiled() -> None:
    """scripts/setup compiles the modules: CI runs (and benchmarks) the compiled build."""
    _skip_unless_compiled()
    files = _imported_from(pure=False)
    assert not any(path.endswith(".py") for path in files.values()), files
    assert native.stale_sources(native.read_manifest()) == []


def test_a_stale_build_is_not_run(tmp_path: Path) -> None:
    """A build whose recorded digest of rules.py is not the source's: every scoring module is
    imported from source, and the warning names the changed file."""
    _skip_unless_compiled()
    recorded = native.read_manifest(native.MANIFEST)
    recorded["services.scoring.rules"] = "0" * 64
    manifest = tmp_path / "native.json"
    manifest.write_text(json.dumps({"python": sys.implementation.cache_tag, "sources": recorded}))
    files, logged = _import_in_a_fresh_interpreter(pure=False, manifest=manifest)
    assert all(path.endswith(".py") for path in files.values()), files
    assert "services/scoring/rules.py changed since it was compiled" in logged
    assert "scorer.py" not in logged
