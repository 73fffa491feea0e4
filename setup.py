"""Only the wheel's tag; everything else is in pyproject.toml.

With the scoring domain compiled (`python -m services.native build`), the wheel holds CPython
extension modules: it must be tagged for this interpreter and platform, not py3-none-any
(setuptools only knows of extensions it builds itself)."""

from pathlib import Path

from setuptools import setup
from setuptools.dist import Distribution


class CompiledScoring(Distribution):
    def has_ext_modules(self) -> bool:
        return any((Path(__file__).resolve().parent / "services").rglob("*.so"))


setup(distclass=CompiledScoring)
