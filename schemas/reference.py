"""Reference data: municipalities and Chamber of Commerce (KvK) regions.

Three CSV files ship as package data in `schemas/data/`:

- `municipalities_2025.csv` (`code,name,province`): the 342 Dutch municipalities of the CBS
  "Gemeentelijke indeling op 1 januari 2025", keyed on their CBS code (`GM0344`). The 2022–2023
  mergers are in (Dijk en Waard, Land van Cuijk, Maashorst, Voorne aan Zee; Weesp is part of
  Amsterdam); the merged-away municipalities are not.
- `chambers.csv` (`id,name`): the twelve regional Chambers the mystery-guest research ran in
  (slide 27 of the method deck, `seeds/000_*.txt`).
- `municipality_chamber.csv` (`municipality,chamber`): the *default* Chamber of every
  municipality.

The default mapping is APPROXIMATE. The twelve regional Chambers were merged into one national
KvK in 2014 and their borders were drawn on the municipalities of that time, which have since
been merged many times over. The mapping here is rebuilt from province and COROP geography:

- Noord-Nederland: Groningen, Fryslân and Drenthe.
- Oost-Nederland: Overijssel plus the Achterhoek (COROP Achterhoek: Aalten, Berkelland,
  Bronckhorst, Doetinchem, Lochem, Montferland, Oost Gelre, Oude IJsselstreek, Winterswijk,
  Zutphen).
- Centraal-Gelderland: the rest of Gelderland (Arnhem/Nijmegen, the Veluwe, Rivierenland).
- Gooi-, Eem- en Flevoland: Flevoland, Gooi en Vechtstreek (Hilversum, Gooise Meren, Huizen,
  Blaricum, Laren, Wijdemeren) and Amersfoort/Eemland (Amersfoort, Baarn, Bunschoten, Eemnes,
  Leusden, Soest, Woudenberg).
- Midden-Nederland: the rest of the province of Utrecht.
- Amsterdam: Amsterdam, Amstelveen, Aalsmeer, Diemen, Ouder-Amstel, Uithoorn, Haarlemmermeer,
  Zaanstad, Wormerland, Oostzaan, Landsmeer, Purmerend, Edam-Volendam, Waterland.
- Noordwest-Holland: the rest of Noord-Holland.
- Den Haag: Haaglanden plus Leiden and the Duin- en Bollenstreek (Leiden, Leiderdorp,
  Oegstgeest, Voorschoten, Zoeterwoude, Katwijk, Kaag en Braassem, Hillegom, Lisse, Noordwijk,
  Teylingen).
- Rotterdam: the rest of Zuid-Holland (Rijnmond, Drechtsteden, Goeree-Overflakkee, Hoeksche
  Waard, Alblasserwaard, Midden-Holland, Alphen aan den Rijn, Nieuwkoop).
- Zuidwest-Nederland: Zeeland plus West-Brabant (Breda, Bergen op Zoom, Roosendaal, Etten-Leur,
  Moerdijk, Halderberge, Rucphen, Zundert, Woensdrecht, Steenbergen, Geertruidenberg, Drimmelen,
  Altena, Oosterhout, Alphen-Chaam, Baarle-Nassau).
- Brabant: the rest of Noord-Brabant.
- Limburg: Limburg.

A campaign that needs the real borders of its Chamber passes an override CSV
(`municipality,chamber`, header required) whose rows replace the default for the municipalities
they name; see `chamber_map`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Chamber",
    "Municipality",
    "ReferenceData",
    "chamber_map",
    "chambers",
    "municipalities",
]

_DATA_PACKAGE = "schemas"
MUNICIPALITIES_FILE = "municipalities_2025.csv"
CHAMBERS_FILE = "chambers.csv"
MUNICIPALITY_CHAMBER_FILE = "municipality_chamber.csv"


class Municipality(BaseModel):
    """A municipality (gemeente) by its CBS code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^GM\d{4}$", description="CBS code, e.g. GM0344.")
    name: str = Field(min_length=1, description="Official Dutch name, e.g. 's-Gravenhage.")
    province: str = Field(min_length=1, description="Dutch province name, e.g. Fryslân.")


class Chamber(BaseModel):
    """A regional Chamber of Commerce (Kamer van Koophandel) area."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", description="Short slug.")
    name: str = Field(min_length=1)


# --- CSV reading ------------------------------------------------------------------------------


def _data_dir() -> Traversable:
    try:
        return resources.files(_DATA_PACKAGE) / "data"
    except NotADirectoryError:
        # An editable install made before `schemas/__init__.py` existed registers `schemas` as a
        # namespace package, which importlib.resources on Python 3.11 cannot open; the data
        # files sit beside this module either way.
        return Path(__file__).resolve().parent / "data"


def _read_package_text(name: str) -> str:
    return (_data_dir() / name).read_text(encoding="utf-8")


def _rows(text: str, source: str, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) for every data row; the header must name every column.

    Values are stripped; empty lines are skipped; a short or long row is an error.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(
            f"{source}:1: header must name the columns {','.join(columns)}; "
            f"missing {','.join(missing)} (got {','.join(header) or 'no header'})"
        )
    reader.fieldnames = header
    for raw in reader:
        line = reader.line_num
        if None in raw:
            raise ValueError(f"{source}:{line}: more fields than the header names")
        row: dict[str, str] = {}
        for column in columns:
            value = raw.get(column)
            if value is None:
                raise ValueError(f"{source}:{line}: missing value for column {column!r}")
            row[column] = value.strip()
        yield line, row


# --- cached package data ----------------------------------------------------------------------


@cache
def _municipalities() -> MappingProxyType[str, Municipality]:
    out: dict[str, Municipality] = {}
    for line, row in _rows(
        _read_package_text(MUNICIPALITIES_FILE), MUNICIPALITIES_FILE, ("code", "name", "province")
    ):
        if row["code"] in out:
            raise ValueError(f"{MUNICIPALITIES_FILE}:{line}: duplicate code {row['code']!r}")
        out[row["code"]] = Municipality.model_validate(row)
    return MappingProxyType(out)


@cache
def _chambers() -> MappingProxyType[str, Chamber]:
    out: dict[str, Chamber] = {}
    for line, row in _rows(_read_package_text(CHAMBERS_FILE), CHAMBERS_FILE, ("id", "name")):
        if row["id"] in out:
            raise ValueError(f"{CHAMBERS_FILE}:{line}: duplicate id {row['id']!r}")
        out[row["id"]] = Chamber.model_validate(row)
    return MappingProxyType(out)


def _apply(target: dict[str, str], text: str, source: str, *, allow_repeat: bool) -> dict[str, str]:
    """Read `municipality,chamber` rows from `text` into `target`, validating every value."""
    known_municipalities = _municipalities()
    known_chambers = _chambers()
    seen: set[str] = set()
    for line, row in _rows(text, source, ("municipality", "chamber")):
        code, chamber_id = row["municipality"], row["chamber"]
        if code not in known_municipalities:
            raise ValueError(f"{source}:{line}: unknown municipality code {code!r}")
        if chamber_id not in known_chambers:
            raise ValueError(f"{source}:{line}: unknown chamber id {chamber_id!r}")
        if code in seen and not allow_repeat:
            raise ValueError(f"{source}:{line}: municipality {code!r} is mapped twice")
        seen.add(code)
        target[code] = chamber_id
    return target


@cache
def _default_chamber_map() -> MappingProxyType[str, str]:
    mapping = _apply(
        {},
        _read_package_text(MUNICIPALITY_CHAMBER_FILE),
        MUNICIPALITY_CHAMBER_FILE,
        allow_repeat=False,
    )
    unmapped = [code for code in _municipalities() if code not in mapping]
    if unmapped:
        raise ValueError(f"{MUNICIPALITY_CHAMBER_FILE}: no chamber for {', '.join(unmapped)}")
    # Keep the municipality (CSV) order whatever the order of the mapping file.
    return MappingProxyType({code: mapping[code] for code in _municipalities()})


# --- public API -------------------------------------------------------------------------------


def municipalities() -> dict[str, Municipality]:
    """All municipalities keyed by CBS code, in CSV order (a fresh dict over cached data)."""
    return dict(_municipalities())


def chambers() -> dict[str, Chamber]:
    """All Chambers keyed by id, in CSV order (a fresh dict over cached data)."""
    return dict(_chambers())


def chamber_map(override: Path | None = None) -> dict[str, str]:
    """Municipality code → chamber id for every municipality.

    With `override`, the rows of that CSV (`municipality,chamber`, header required) replace the
    default for the municipalities they name; a later row for the same municipality wins. An
    unknown municipality code or chamber id raises `ValueError` naming the file, the line and the
    bad value.
    """
    mapping = dict(_default_chamber_map())
    if override is None:
        return mapping
    text = Path(override).read_text(encoding="utf-8-sig")
    return _apply(mapping, text, str(override), allow_repeat=True)


@dataclass(frozen=True)
class ReferenceData:
    """Municipalities, Chambers and the municipality → Chamber mapping in one value."""

    municipalities: dict[str, Municipality]
    chambers: dict[str, Chamber]
    chamber_of: dict[str, str]

    @classmethod
    def load(cls, override: Path | None = None) -> Self:
        return cls(
            municipalities=municipalities(),
            chambers=chambers(),
            chamber_of=chamber_map(override),
        )

    def municipalities_of(self, chamber_id: str) -> list[str]:
        """CBS codes of the municipalities of `chamber_id`, in municipality (CSV) order."""
        if chamber_id not in self.chambers:
            raise KeyError(f"unknown chamber id {chamber_id!r}")
        return [code for code in self.municipalities if self.chamber_of.get(code) == chamber_id]
