"""Scoring model files: loading, validating and choosing a model (the *meetlat*).

The models shipped with the package live in `services/scoring/models/*.yaml`; a deployment may
add a directory of its own. A model is chosen by file, by `id`, by `id@version`, or by default
(the latest `kvk-mystery-guest`). Every score records the `id@version` it was made with, so two
different files may never claim the same `id@version`.

No faust, Kafka or SQL here: YAML and pydantic only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from schemas.scoring_model import Criterion, ModelError, ScoringModel, parse_model

__all__ = [
    "DEFAULT_MODEL_ID",
    "MODEL_COLUMNS",
    "ModelCatalogue",
    "ModelError",
    "UnknownModelError",
    "builtin_models",
    "default_model",
    "load_model_file",
    "load_model_text",
    "model_rows",
    "version_key",
]

DEFAULT_MODEL_ID = "kvk-mystery-guest"
MODEL_SUFFIXES = (".yaml", ".yml")


class UnknownModelError(KeyError):
    """No model of that id / id@version; the message lists the available keys."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown scoring model"


# ---------------------------------------------------------------- YAML


class _ModelLoader(yaml.SafeLoader):
    """Safe YAML with two traps for hand-edited files removed: a repeated key is an error
    (PyYAML would silently keep the last one), and only true/false are booleans (YAML 1.1
    would turn the answers `yes`/`no`/`on`/`off` into booleans)."""


_ModelLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ModelLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _mapping(loader: _ModelLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in out:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found the key {key!r} twice",
                key_node.start_mark,
            )
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_ModelLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"YAML error: {exc}"
    kind = (
        "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
    )
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = exc.problem or "invalid YAML"
    context = exc.context or ""
    if context and exc.context_mark is not None and exc.context_mark is not mark:
        context += f" at line {exc.context_mark.line + 1}"
    return f"{kind}{where}: {what}" + (f" ({context})" if context else "")


def load_model_text(text: str, source_name: str = "<model>") -> ScoringModel:
    """Parse and validate a model document; raises ModelError (file name, then every
    problem, each naming its criterion; YAML errors with their line)."""
    try:
        data = yaml.load(text, Loader=_ModelLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ModelError(source_name, [_yaml_problem(exc)]) from None
    if data is None:
        raise ModelError(source_name, ["the file is empty"])
    return parse_model(data, source_name)


def load_model_file(path: Path) -> ScoringModel:
    """Load and validate one model file; raises ModelError with a readable message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(str(path), ["no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(str(path), [f"cannot read the file: {exc}"]) from None
    return load_model_text(text, str(path))


# ---------------------------------------------------------------- versions


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural sort key: 2026.2 < 2026.10; numbers before text within a position."""
    parts = re.findall(r"\d+|[^\d.\-_+]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def _latest(models: Iterable[ScoringModel]) -> ScoringModel:
    return max(models, key=lambda m: version_key(m.version))


# ---------------------------------------------------------------- the catalogue


def _add(
    found: dict[str, ScoringModel],
    origins: dict[str, str],
    model: ScoringModel,
    origin: str,
) -> None:
    """Add a model; the same key twice is fine for equal models, an error for different ones."""
    known = found.get(model.key)
    if known is None:
        found[model.key] = model
        origins[model.key] = origin
    elif known != model:
        raise ModelError(
            origin,
            [
                f"{model.key} is already defined, differently, by {origins[model.key]}; an "
                "edited model needs a new version (scores record id@version)"
            ],
        )


@cache
def _builtin() -> tuple[tuple[ScoringModel, str], ...]:
    folder = resources.files("services.scoring").joinpath("models")
    found: dict[str, ScoringModel] = {}
    origins: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.endswith(MODEL_SUFFIXES):
            origin = f"builtin:{entry.name}"
            _add(found, origins, load_model_text(entry.read_text(encoding="utf-8"), origin), origin)
    return tuple((model, origins[key]) for key, model in found.items())


def builtin_models() -> dict[str, ScoringModel]:
    """The models shipped with the package, keyed by `id@version` (loaded once)."""
    return {model.key: model for model, _ in _builtin()}


def default_model() -> ScoringModel:
    """The latest shipped version of the default model."""
    return _latest(m for m in builtin_models().values() if m.id == DEFAULT_MODEL_ID)


class ModelCatalogue:
    """The models a user can choose from: the shipped ones plus an optional directory."""

    def __init__(self, extra_dir: Path | None = None, *, include_builtin: bool = True) -> None:
        self._models: dict[str, ScoringModel] = {}
        self._origins: dict[str, str] = {}
        if include_builtin:
            for model, origin in _builtin():
                self.add(model, origin)
        if extra_dir is not None:
            extra_dir = Path(extra_dir)
            if not extra_dir.is_dir():
                raise ModelError(str(extra_dir), ["not a directory of model files"])
            problems: list[str] = []
            for path in sorted(p for p in extra_dir.iterdir() if p.suffix in MODEL_SUFFIXES):
                try:
                    self.add(load_model_file(path), str(path))
                except ModelError as exc:
                    problems.append(str(exc))
            if problems:
                raise ModelError(str(extra_dir), problems)

    def add(self, model: ScoringModel, origin: str = "<added>") -> None:
        _add(self._models, self._origins, model, origin)

    def models(self) -> list[ScoringModel]:
        """All models, by id and then by natural version order."""
        return sorted(self._models.values(), key=lambda m: (m.id, version_key(m.version)))

    def keys(self) -> list[str]:
        return [m.key for m in self.models()]

    def __contains__(self, key: object) -> bool:
        return key in self._models

    def origin(self, model: ScoringModel) -> str:
        """Where a model of the catalogue came from (file path or `builtin:<name>`)."""
        return self._origins[model.key]

    def by_key(self, key: str) -> ScoringModel:
        """The model 'id@version' — the cheap lookup the scorer does for every contact."""
        model = self._models.get(key)
        if model is None:
            return self.resolve(key)  # a bare id, or an error naming what is available
        return model

    def get(self, model_id: str, version: str | None = None) -> ScoringModel:
        """The model `id@version`, or the latest version of `id` when version is None."""
        if version is None:
            candidates = [m for m in self._models.values() if m.id == model_id]
            if candidates:
                return _latest(candidates)
            wanted = model_id
        else:
            model = self._models.get(f"{model_id}@{version}")
            if model is not None:
                return model
            wanted = f"{model_id}@{version}"
        available = ", ".join(self.keys()) or "none"
        raise UnknownModelError(f"no scoring model {wanted!r}; available: {available}")

    def resolve(self, choice: str | Path | None) -> ScoringModel:
        """A user's choice: a path to a YAML file, `id`, `id@version`, or None (the default
        model's latest version). A file claiming a known `id@version` with other content is
        refused: it would silently change what that key means. A model chosen by file is
        added to the catalogue, so its `id@version` (recorded in scores) resolves later."""
        if choice is None:
            return self.get(DEFAULT_MODEL_ID)
        text = str(choice)
        if isinstance(choice, Path) or _looks_like_path(text):
            path = Path(text)
            model = load_model_file(path)
            known = self._models.get(model.key)
            if known is not None and known != model:
                raise ModelError(
                    str(path),
                    [
                        f"defines {model.key}, which {self._origins[model.key]} already defines "
                        "differently; give the edited model a new version"
                    ],
                )
            self.add(model, str(path))
            return self._models[model.key]
        model_id, sep, version = text.partition("@")
        return self.get(model_id, version if sep else None)


def _looks_like_path(text: str) -> bool:
    return text.endswith(MODEL_SUFFIXES) or "/" in text or "\\" in text or Path(text).is_file()


# ---------------------------------------------------------------- printing

MODEL_COLUMNS = (
    "id",
    "label",
    "channel",
    "dimension",
    "phases",
    "weight",
    "scale",
    "N/A",
    "critical",
)


def _scale_summary(criterion: Criterion) -> str:
    summary = criterion.scale.summary()
    if criterion.observe is not None:
        return f"{criterion.observe}: {summary}"
    return summary


def model_rows(model: ScoringModel) -> list[tuple[str, ...]]:
    """The model as table rows (columns `MODEL_COLUMNS`), one per criterion."""
    rows: list[tuple[str, ...]] = []
    for c in model.criteria:
        na = "yes" if c.na_allowed else f"no (→ {c.scale.lowest():g})"
        rows.append(
            (
                c.id,
                c.label,
                c.channel,
                c.dimension,
                ", ".join(c.phases),
                f"{c.weight:g}",
                _scale_summary(c),
                na,
                c.critical.summary() if c.critical else "",
            )
        )
    return rows
