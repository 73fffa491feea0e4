"""Reference data: the 2025 municipalities, the twelve Chambers and the default mapping."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from schemas.reference import (
    Chamber,
    Municipality,
    ReferenceData,
    chamber_map,
    chambers,
    municipalities,
)

MERGED_IN = {
    "GM1980": "Dijk en Waard",
    "GM1982": "Land van Cuijk",
    "GM1991": "Maashorst",
    "GM1992": "Voorne aan Zee",
}
ABOLISHED = {
    "GM0457": "Weesp",
    "GM0398": "Heerhugowaard",
    "GM0416": "Langedijk",
    "GM0756": "Boxmeer",
    "GM1684": "Cuijk",
    "GM0501": "Brielle",
    "GM0530": "Hellevoetsluis",
    "GM0614": "Westvoorne",
    "GM1685": "Landerd",
    "GM0856": "Uden",
    "GM0370": "Beemster",
}
CHAMBER_IDS = {
    "gooi-eem-flevoland",
    "brabant",
    "oost-nederland",
    "limburg",
    "den-haag",
    "centraal-gelderland",
    "amsterdam",
    "noordwest-holland",
    "midden-nederland",
    "zuidwest-nederland",
    "rotterdam",
    "noord-nederland",
}


def test_342_municipalities_with_unique_cbs_codes() -> None:
    munis = municipalities()
    assert len(munis) == 342
    assert all(re.fullmatch(r"GM\d{4}", code) for code in munis)
    assert all(m.code == code for code, m in munis.items())
    assert len({m.name for m in munis.values()}) == 342
    assert all(isinstance(m, Municipality) for m in munis.values())


def test_per_province_counts() -> None:
    counts = Counter(m.province for m in municipalities().values())
    assert counts == {
        "Groningen": 10,
        "Fryslân": 18,
        "Drenthe": 12,
        "Overijssel": 25,
        "Flevoland": 6,
        "Gelderland": 51,
        "Utrecht": 26,
        "Noord-Holland": 44,
        "Zuid-Holland": 50,
        "Zeeland": 13,
        "Noord-Brabant": 56,
        "Limburg": 31,
    }


def test_mergers_present_and_abolished_absent() -> None:
    munis = municipalities()
    names = {m.name for m in munis.values()}
    for code, name in MERGED_IN.items():
        assert munis[code].name == name
    for code, name in ABOLISHED.items():
        assert code not in munis
        assert name not in names
    assert munis["GM0518"].name == "'s-Gravenhage"
    assert munis["GM0344"] == Municipality(code="GM0344", name="Utrecht", province="Utrecht")


def test_models_are_frozen() -> None:
    utrecht = municipalities()["GM0344"]
    with pytest.raises(ValueError):
        utrecht.name = "Other"  # type: ignore[misc]


def test_returned_dicts_do_not_share_state() -> None:
    first = municipalities()
    first.pop("GM0344")
    assert "GM0344" in municipalities()
    cmap = chamber_map()
    cmap["GM0344"] = "amsterdam"
    assert chamber_map()["GM0344"] == "midden-nederland"


def test_twelve_chambers() -> None:
    chs = chambers()
    assert set(chs) == CHAMBER_IDS
    assert all(isinstance(c, Chamber) and c.id == cid for cid, c in chs.items())
    assert chs["gooi-eem-flevoland"].name == "KvK Gooi-, Eem- en Flevoland"


def test_every_municipality_mapped_to_a_known_chamber() -> None:
    cmap = chamber_map()
    assert list(cmap) == list(municipalities())
    assert set(cmap.values()) <= CHAMBER_IDS


def test_every_chamber_has_at_least_five_municipalities() -> None:
    ref = ReferenceData.load()
    sizes = {cid: len(ref.municipalities_of(cid)) for cid in ref.chambers}
    assert all(size >= 5 for size in sizes.values()), sizes
    assert sum(sizes.values()) == 342


@pytest.mark.parametrize(
    ("code", "chamber_id"),
    [
        ("GM0344", "midden-nederland"),  # Utrecht
        ("GM0363", "amsterdam"),  # Amsterdam
        ("GM0599", "rotterdam"),  # Rotterdam
        ("GM0518", "den-haag"),  # 's-Gravenhage
        ("GM0014", "noord-nederland"),  # Groningen
        ("GM0935", "limburg"),  # Maastricht
        ("GM0758", "zuidwest-nederland"),  # Breda
        ("GM0855", "brabant"),  # Tilburg
        ("GM0202", "centraal-gelderland"),  # Arnhem
        ("GM0153", "oost-nederland"),  # Enschede
        ("GM0034", "gooi-eem-flevoland"),  # Almere
        ("GM0402", "gooi-eem-flevoland"),  # Hilversum
        ("GM0307", "gooi-eem-flevoland"),  # Amersfoort
        ("GM0222", "oost-nederland"),  # Doetinchem (Achterhoek)
        ("GM1992", "rotterdam"),  # Voorne aan Zee
        ("GM1980", "noordwest-holland"),  # Dijk en Waard
        ("GM0546", "den-haag"),  # Leiden
        ("GM0687", "zuidwest-nederland"),  # Middelburg
    ],
)
def test_spot_checks(code: str, chamber_id: str) -> None:
    assert chamber_map()[code] == chamber_id
    assert code in ReferenceData.load().municipalities_of(chamber_id)


def test_municipalities_of_unknown_chamber() -> None:
    with pytest.raises(KeyError):
        ReferenceData.load().municipalities_of("nowhere")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "override.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_override_replaces_named_municipalities_only(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "municipality,chamber\nGM0344,amsterdam\n\n GM0202 , oost-nederland \n",
    )
    default = chamber_map()
    cmap = chamber_map(path)
    assert cmap["GM0344"] == "amsterdam"
    assert cmap["GM0202"] == "oost-nederland"
    changed = {code for code in default if default[code] != cmap[code]}
    assert changed == {"GM0344", "GM0202"}
    ref = ReferenceData.load(path)
    assert "GM0344" in ref.municipalities_of("amsterdam")
    assert "GM0344" not in ref.municipalities_of("midden-nederland")
    # the default is untouched
    assert chamber_map()["GM0344"] == "midden-nederland"


def test_override_with_bad_code_names_file_line_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "municipality,chamber\nGM0344,amsterdam\nGM0457,amsterdam\n")
    with pytest.raises(ValueError, match=r"override\.csv:3: .*'GM0457'"):
        chamber_map(path)


def test_override_with_bad_chamber_names_file_line_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "municipality,chamber\nGM0344,amsterdam\nGM0363,kvk-utopia\n")
    with pytest.raises(ValueError, match=r"override\.csv:3: .*'kvk-utopia'"):
        chamber_map(path)


def test_override_without_header_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "GM0344,amsterdam\n")
    with pytest.raises(ValueError, match=r"override\.csv:1: header"):
        chamber_map(path)
