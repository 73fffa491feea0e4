"""The scoring domain compiled to C with mypyc, and the guard that never runs a stale build.

The scorer's own work per event (adding a fact to its contact, scoring it) is pure, typed
Python; mypyc compiles those modules to C extensions that run the same code faster (offline,
validating an event and adding it to its contact took 18.3 instead of 25.0 µs, the
validation itself being pydantic's either way). `scripts/setup` builds them next to their sources
(`python -m services.native build`), and Python then imports the extension instead of the
`.py` file. The sources stay the truth: mypy checks them, and with `MEETLAT_PURE_PYTHON=1`
(or without a build) they are what runs.

An extension built from an older source would silently run old rules, so the build records
each source's SHA-256 in `native.json`, and `install_guard` (run when `services.scoring` is
imported, before any of its modules is) checks them: when one differs, every compiled
module is imported from its source instead (the modules of one build call each other's C
code, so it is all or none), with a warning that says which source changed.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
MODULES = ("services.scoring.rules", "services.scoring.scorer", "services.scoring.clock")
GROUP = "services.scoring._native"  # the C library the compiled modules share
MANIFEST = PACKAGE_DIR / "native.json"
PURE_PYTHON_VARIABLE = "MEETLAT_PURE_PYTHON"

log = logging.getLogger(__name__)


def source_of(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extension_of(module: str, root: Path = ROOT) -> Path | None:
    """The compiled extension Python would import for `module`, if there is one."""
    base = root.joinpath(*module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = base.with_name(base.name + suffix)
        if candidate.exists():
            return candidate
    return None


def stale_sources(
    recorded: dict[str, str], modules: Sequence[str] = MODULES, root: Path = ROOT
) -> list[str]:
    """The compiled modules whose source is not the one their extension was built from (one
    the build did not record counts as stale)."""
    return [
        module
        for module in modules
        if extension_of(module, root) is not None
        and recorded.get(module) != digest(source_of(module, root))
    ]


def read_manifest(path: Path = MANIFEST) -> dict[str, str]:
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    if manifest.get("python") != sys.implementation.cache_tag:
        return {}  # built for another Python: its extensions are not importable anyway
    return dict(manifest.get("sources", {}))


def wanted_pure(environ: Mapping[str, str] = os.environ) -> bool:
    # read here, not through Settings: it decides what is imported, before any settings exist
    return environ.get(PURE_PYTHON_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


class _FromSource(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' `.py` sources ahead of their extensions."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_of(fullname))


def install_guard() -> None:
    """Import the compiled modules from source when asked to or when their build is stale."""
    if any(isinstance(finder, _FromSource) for finder in sys.meta_path):
        return
    if not wanted_pure():
        stale = stale_sources(read_manifest(MANIFEST))
        if not stale:
            return
        log.warning(
            "%s changed since it was compiled: running the pure-Python scoring modules "
            "(slower); run scripts/setup (or python -m services.native build) to compile them "
            "again",
            ", ".join(str(source_of(module).relative_to(ROOT)) for module in stale),
        )
    sys.meta_path.insert(0, _FromSource())


def compiled() -> bool:
    """Whether the scoring modules are (or will be) imported compiled."""
    install_guard()
    from_source = any(isinstance(finder, _FromSource) for finder in sys.meta_path)
    return not from_source and all(extension_of(module) is not None for module in MODULES)


def described() -> str:
    """What runs the scoring modules, for benchmarks' output."""
    return "compiled with mypyc" if compiled() else "pure Python"


def build() -> None:
    """Compile the modules with mypyc (under the project's mypy configuration), put the
    extensions next to their sources and record the sources' digests. A failed build leaves
    no extension behind, so the sources run."""
    from mypyc.build import mypycify  # a build tool: not needed to run the compiled modules
    from setuptools import setup

    sources = [str(source_of(module).relative_to(ROOT)) for module in MODULES]
    os.chdir(ROOT)  # mypyc and setuptools work relative to the project
    clean()
    built = ROOT / "build" / "native"
    shutil.rmtree(built, ignore_errors=True)
    try:
        setup(
            script_args=["--quiet", "build_ext", "--build-lib", str(built)],
            ext_modules=mypycify(sources, opt_level="3", separate=[(sources, GROUP)]),
        )
        # moved into place, not copied over: a running worker keeps the file it has mapped
        for extension in [path for path in built.rglob("*") if path.is_file()]:
            os.replace(extension, ROOT / extension.relative_to(built))
    except BaseException:
        clean()
        raise
    MANIFEST.write_text(
        json.dumps(
            {
                "python": sys.implementation.cache_tag,
                "sources": {module: digest(source_of(module)) for module in MODULES},
            },
            indent=2,
        )
        + "\n"
    )


def clean() -> None:
    """Remove the compiled modules, so that the sources run."""
    MANIFEST.unlink(missing_ok=True)
    for module in (*MODULES, GROUP):
        while (extension := extension_of(module)) is not None:
            extension.unlink()


if __name__ == "__main__":
    commands = {"build": build, "clean": clean}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python -m services.native {{{'|'.join(commands)}}}")
    commands[sys.argv[1]]()
