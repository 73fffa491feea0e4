"""De-identification of call reports and mail texts before they are stored for reporting.

Uses `deduce` (the maintained Dutch de-identification library, built on docdeid): person
names, phone numbers and e-mail addresses are replaced by neutral numbered placeholders such
as `[PERSOON-1]`, `[TELEFOONNUMMER-1]`, `[EMAILADRES-1]`. Only those three groups run: place
names, dates, institutions and URLs (a municipality, "tegenover de HEMA",
www.omgevingsloket.nl) are part of the case and stay.

The persona — the mystery guest's own name, phone number and e-mail address, configured per
case in `personas.yaml` — may stay: a person annotation containing the persona's surname, or a
phone/e-mail annotation equal to the persona's, is left in the text.

Loading deduce's lookup structures takes seconds (a minute or two on first install), so one
`Deidentifier` is built lazily and shared (`default_deidentifier()`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

VERSION = "deduce-3/names+phone+email/nl-phone-any-tld"
"""Recorded with every stored text: which de-identification produced it."""

_GROUPS = ("names", "phone_numbers", "email_addresses")

# deduce's own phone pattern knows only some area codes (it misses 071-5162345 and
# "+31 6 12345678") and its e-mail pattern only some top-level domains (.eu, .info…). Through
# deduce's documented config, a second phone annotator (docdeid's RegexpAnnotator, in the same
# group) finds every Dutch number — trunk 0, +31 or 0031, then nine digits with spaces,
# dashes or brackets between them — and the e-mail pattern accepts any domain.
CONFIG: dict[str, Any] = {
    "annotators": {
        "phone_any_area": {
            "annotator_type": "docdeid.process.RegexpAnnotator",
            "group": "phone_numbers",
            "args": {
                "regexp_pattern": r"(?<![\w+-])(?:(?:\+|00)31[\s-]?(?:\(0\)[\s-]?)?|\(?0)"
                r"(?:\d[\s)-]{0,2}){8}\d(?!\d)",
                "tag": "telefoonnummer",
            },
        },
        "email": {
            "args": {
                "regexp_pattern": r"[-a-zA-Z0-9%._+~#=]{1,256}@[-a-zA-Z0-9%._+~#=]{1,256}"
                r"\.[a-zA-Z]{2,24}",
                "pre_match_words": None,
            }
        },
    }
}

_POST = ("post_processing", "overlap_resolver", "merge_adjacent_annotations")


class Persona(BaseModel):
    """The mystery guest of one case: details that may appear in a report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    phone: str = ""
    email: str = ""

    @property
    def surname(self) -> str:
        words = [w for w in re.split(r"\s+", self.name.strip()) if w]
        keep = [w for w in words if w.lower() not in {"heer", "mevrouw", "meneer", "mw.", "dhr."}]
        return " ".join(keep[-1:]) if keep else ""


def load_personas(path: Path | None = None) -> dict[str, Persona]:
    """Case id → persona, from `path` or the shipped `personas.yaml`."""
    if path is None:
        text = resources.files("services.reporting").joinpath("personas.yaml").read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    return {str(case): Persona.model_validate(item) for case, item in raw.items()}


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def deduce_class() -> Any:
    """deduce's `Deduce`, imported without its side effect: on import deduce configures the
    root logger (every library's DEBUG records to stdout — into a report written to stdout, and
    a line per page from each PDF worker); the logging configuration is put back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from deduce import Deduce  # heavy: loads lookup tables

    root.handlers[:] = handlers
    root.setLevel(level)
    return Deduce


@dataclass
class Deidentifier:
    """Replaces staff names, phone numbers and e-mail addresses in Dutch text."""

    personas: dict[str, Persona] = field(default_factory=dict)
    _deduce: Any = None

    def _engine(self) -> Any:
        if self._deduce is None:
            self._deduce = deduce_class()(config=CONFIG)
            names = self._deduce.processors.get_names()
            groups = set(_GROUPS)
            enabled: set[str] = set(_POST)
            current = ""
            for name in names:  # children follow their group in get_names()
                if name in {
                    "names",
                    "locations",
                    "institutions",
                    "dates",
                    "ages",
                    "identifiers",
                    "phone_numbers",
                    "email_addresses",
                    "urls",
                    "post_processing",
                }:
                    current = name
                if current in groups:
                    enabled.add(name)
            self._enabled = enabled
        return self._deduce

    def __call__(self, text: str, case: str = "") -> str:
        """The text with staff names, phone numbers and e-mail addresses replaced."""
        if not text.strip():
            return text
        engine = self._engine()  # first: it imports deduce without deduce's logging setup
        from deduce.redactor import DeduceRedactor
        from docdeid import AnnotationSet

        doc = engine.deidentify(text, enabled=self._enabled)
        persona = self.personas.get(case)
        kept = AnnotationSet(a for a in doc.annotations if not _is_persona(a, persona))
        return str(DeduceRedactor(open_char="[", close_char="]").redact(text, kept))


def _is_persona(annotation: Any, persona: Persona | None) -> bool:
    if persona is None:
        return False
    tag, found = annotation.tag, annotation.text
    if tag in {"persoon", "patient"}:
        surname = persona.surname
        if not surname:
            return False
        words = re.findall(r"[\w'-]+", found)
        rest = [w for w in words if w.lower() not in {"heer", "mevrouw", "meneer", "dhr", "mw"}]
        return " ".join(rest).lower() == surname.lower()
    if tag == "telefoonnummer" and persona.phone:
        return _digits(found) == _digits(persona.phone)
    if tag == "emailadres" and persona.email:
        return found.strip().lower() == persona.email.lower()
    return False


@cache
def default_deidentifier() -> Deidentifier:
    """The shared de-identifier with the shipped personas (deduce is loaded on first use)."""
    return Deidentifier(load_personas())
