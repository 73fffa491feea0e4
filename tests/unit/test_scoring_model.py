"""The editable, versioned scoring model (meetlat): the shipped default model, validation with
errors that name the criterion, the catalogue, answers against the model, and the table view."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from schemas.scoring_model import (
    CATEGORICAL_FACTS,
    NUMERIC_FACTS,
    BandScale,
    ModelError,
    OrdinalScale,
    ScoringModel,
)
from services.scoring.catalogue import (
    DEFAULT_MODEL_ID,
    MODEL_COLUMNS,
    ModelCatalogue,
    UnknownModelError,
    builtin_models,
    default_model,
    load_model_file,
    load_model_text,
    model_rows,
    version_key,
)

SEED_FRIENDLINESS = {
    "zeer vriendelijk": 10,
    "vriendelijk": 8,
    "niet onvriendelijk": 6,
    "neutraal": 4,
    "onvriendelijk": 2,
    "zeer onvriendelijk": 1,
}
SEED_MAIL_SPEED = [(24, 10), (36, 8), (48, 6), (60, 4), (72, 2)]

# A minimal valid model: one criterion per channel and dimension. `{extra}` takes more.
BASE = """\
id: test-model
version: "{version}"
title: Test
corrections:
  self_callback: 1.5
criteria:
  - id: vriendelijkheid
    label: Vriendelijkheid
    channel: phone
    dimension: form
    weight: 1
    scale:
      kind: ordinal
      values: {{vriendelijk: 8, onvriendelijk: 2}}
    source: test
  - id: juist
    label: Juiste antwoord
    channel: phone
    dimension: content
    weight: 2
    scale:
      kind: ordinal
      values: {{juist: 10, onjuist: 2}}
    source: test
  - id: snelheid_mail
    label: Snelheid
    channel: mail
    dimension: form
    weight: 1
    observe: reply_hours
    scale:
      kind: bands
      bands: [{{up_to: 24, value: 10}}, {{up_to: 72, value: 2}}]
      above: 1
    source: test
  - id: juist_mail
    label: Juiste antwoord
    channel: mail
    dimension: content
    weight: 2
    scale:
      kind: ordinal
      values: {{juist: 10, onjuist: 2}}
    source: test
{extra}"""


def model_text(extra: str = "", version: str = "1") -> str:
    return BASE.format(extra=textwrap.indent(textwrap.dedent(extra), "  "), version=version)


def problems_of(text: str) -> str:
    with pytest.raises(ModelError) as info:
        load_model_text(text, "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: "), message
    return message


# ---------------------------------------------------------------- the default model


def test_default_model_loads_and_is_the_builtin() -> None:
    model = default_model()
    assert model.id == DEFAULT_MODEL_ID == "kvk-mystery-guest"
    assert model.version == "2026.1"
    assert model.key == "kvk-mystery-guest@2026.1"
    assert builtin_models()[model.key] is model
    assert model.corrections.self_callback == 1.5
    assert (model.norm, model.sufficient) == (7.0, 5.5)
    assert (model.mail_reply_deadline_hours, model.unanswered_mail_score) == (72, 0)


def test_default_model_has_the_seed_friendliness_scale_exactly() -> None:
    c = default_model().by_id["vriendelijkheid_aanname"]
    assert (c.label, c.channel, c.dimension, c.weight) == (
        "Vriendelijkheid van de aanname",
        "phone",
        "form",
        1,
    )
    assert c.observe is None and c.answered
    assert isinstance(c.scale, OrdinalScale)
    assert c.scale.values == SEED_FRIENDLINESS
    assert list(c.scale.values) == list(SEED_FRIENDLINESS)  # in the seed's order
    for answer, value in SEED_FRIENDLINESS.items():
        assert c.value(answer) == value


def test_default_model_has_the_seed_mail_speed_scale_exactly() -> None:
    c = default_model().by_id["snelheid_mail"]
    assert (c.label, c.channel, c.dimension, c.weight) == (
        "Snelheid van reageren per mail",
        "mail",
        "form",
        1,
    )
    assert c.observe == "reply_hours"
    assert isinstance(c.scale, BandScale)
    assert [(b.up_to, b.value) for b in c.scale.bands] == SEED_MAIL_SPEED
    assert c.scale.above == 1
    # "binnen 24 uur: 10 … binnen 72 uur: 2, meer dan 72 uur: 1", bounds inclusive
    expected = {0: 10, 24: 10, 24.01: 8, 36: 8, 48: 6, 59.9: 4, 60: 4, 72: 2, 72.01: 1, 500: 1}
    for hours, value in expected.items():
        assert c.value(hours) == value, hours


def test_default_model_criteria() -> None:
    model = default_model()
    ids = {c.id for c in model.criteria}
    kept = {
        "snelheid_opnemen",
        "vriendelijkheid_aanname",
        "doorverbinden",
        "juist_antwoord",
        "deskundige_indruk",
        "meedenken",
        "snelheid_mail",
        "aanhef",
        "interne_forward",
        "spelling",
        "juist_antwoord_mail",
        "volledigheid",
    }
    added = {
        "aantal_doorverbindingen",
        "terugbelafspraak",
        "volledigheid_telefoon",
        "autoreply",
        "jargon",
        "adresvraag",
    }
    assert kept | added <= ids
    by = model.by_id
    assert (by["doorverbinden"].observe, by["doorverbinden"].scale) == (
        "transfer_handling",
        OrdinalScale(kind="ordinal", values={"warm": 10, "cold": 6, "absent": 2}),
    )
    assert by["terugbelafspraak"].value("kept") == 10
    assert by["terugbelafspraak"].value("not_kept") == 1
    assert by["autoreply"].value("yes") == 10 and by["autoreply"].value("no") == 4
    assert by["aanhef"].observe == "salutation"
    assert by["interne_forward"].observe == "internal_forward"
    assert by["aantal_doorverbindingen"].observe == "transfers"
    assert by["jargon"].observe == "jargon_terms"
    assert by["adresvraag"].observe == "address_request"
    # the answer is the point of the contact: weight 2, critical, never N/A
    for cid in ("juist_antwoord", "juist_antwoord_mail"):
        c = by[cid]
        assert c.weight == 2 and c.dimension == "content" and not c.na_allowed
        assert c.critical is not None
        assert (c.critical.below, c.critical.effect, c.critical.cap) == (3, "cap", 5.4)
        assert c.scale.lowest() == 1
        assert c.critical.applies(c.value("onjuist")) and not c.critical.applies(
            c.value("deels juist")
        )
    assert all(c.weight == 1 for c in model.criteria if not c.id.startswith("juist_antwoord"))
    assert all(c.source.strip() for c in model.criteria)
    assert all(c.phases for c in model.criteria)
    for channel in ("phone", "mail"):
        dims = {c.dimension for c in model.for_channel(channel)}
        assert dims == {"form", "content"}


def test_default_model_covers_every_fact_value() -> None:
    """Every criterion over a categorical fact scores each of the fact's values."""
    for c in default_model().criteria:
        if c.observe in CATEGORICAL_FACTS:
            for value in CATEGORICAL_FACTS[c.observe][1]:
                assert 1 <= c.value(value) <= 10
        elif c.observe in NUMERIC_FACTS:
            assert isinstance(c.scale, BandScale)


def test_model_is_frozen_and_fingerprinted() -> None:
    model = default_model()
    with pytest.raises(Exception, match="frozen"):
        model.version = "x"  # type: ignore[misc]
    same = load_model_text(model_text(), "a.yaml")
    relaid = load_model_text("# a comment\n" + model_text(), "b.yaml")
    assert same == relaid and same.fingerprint() == relaid.fingerprint()
    other = load_model_text(model_text().replace("self_callback: 1.5", "self_callback: 2"))
    assert other.fingerprint() != same.fingerprint()


# ---------------------------------------------------------------- validation


def test_minimal_model_is_valid() -> None:
    model = load_model_text(model_text(), "ok.yaml")
    assert [c.id for c in model.for_channel("phone")] == ["vriendelijkheid", "juist"]
    assert model.key == "test-model@1"


@pytest.mark.parametrize("hours", ["0", "8761", "1e12", ".nan"])
def test_mail_reply_deadline_outside_a_year(hours: str) -> None:
    """A deadline of more than a year (or none, or NaN) is refused where it is written, not
    when the scorer first adds it to a sent mail's time and leaves the range of datetime."""
    message = problems_of(
        model_text().replace("title: Test", f"title: Test\nmail_reply_deadline_hours: {hours}")
    )
    assert "mail_reply_deadline_hours" in message
    assert (
        load_model_text(
            model_text().replace("title: Test", "title: Test\nmail_reply_deadline_hours: 8760")
        ).mail_reply_deadline_hours
        == 8760
    )


def test_duplicate_criterion_id() -> None:
    message = problems_of(
        model_text(
            """\
            - id: juist
              label: Nog eens
              channel: phone
              dimension: content
              weight: 1
              scale: {kind: ordinal, values: {ja: 10}}
              source: test
            """
        )
    )
    assert "criterion 'juist' is defined twice" in message


def test_value_outside_1_to_10() -> None:
    message = problems_of(model_text().replace("vriendelijk: 8", "vriendelijk: 11"))
    assert "criterion 'vriendelijkheid'" in message
    assert "11" in message and "outside 1–10" in message


def test_band_value_and_above_outside_1_to_10() -> None:
    text = model_text().replace("{up_to: 72, value: 2}", "{up_to: 72, value: 0}")
    text = text.replace("above: 1", "above: 12")
    message = problems_of(text)
    assert "criterion 'snelheid_mail'" in message
    assert "value 0 is outside 1–10" in message and "'above' value 12" in message


def test_descending_bands() -> None:
    text = model_text().replace("{up_to: 72, value: 2}", "{up_to: 12, value: 2}")
    message = problems_of(text)
    assert "criterion 'snelheid_mail': bands must have strictly ascending up_to" in message


def test_empty_scales() -> None:
    text = model_text().replace(
        "bands: [{up_to: 24, value: 10}, {up_to: 72, value: 2}]", "bands: []"
    )
    assert "criterion 'snelheid_mail': a band scale needs at least one band" in problems_of(text)
    text = model_text().replace("{vriendelijk: 8, onvriendelijk: 2}", "{}")
    assert "criterion 'vriendelijkheid': an ordinal scale needs at least one value" in problems_of(
        text
    )


def test_unknown_fact() -> None:
    message = problems_of(model_text().replace("observe: reply_hours", "observe: reply_time"))
    assert "criterion 'snelheid_mail'" in message
    assert "unknown fact 'reply_time'" in message and "reply_hours" in message


def test_fact_of_the_other_channel() -> None:
    message = problems_of(model_text().replace("observe: reply_hours", "observe: seconds_waited"))
    assert "criterion 'snelheid_mail'" in message and "is a phone fact" in message


def test_ordinal_over_a_categorical_fact_must_cover_its_values() -> None:
    extra = """\
        - id: doorverbinden
          label: Doorverbinden
          channel: phone
          dimension: form
          weight: 1
          observe: transfer_handling
          scale: {kind: ordinal, values: {warm: 10, cold: 6, lauw: 5}}
          source: test
        """
    message = problems_of(model_text(extra))
    assert "criterion 'doorverbinden'" in message
    assert "gives no value for 'absent'" in message
    assert "'lauw' not a value of fact 'transfer_handling'" in message


def test_categorical_fact_with_bands_and_numeric_fact_with_ordinal() -> None:
    extra = """\
        - id: aanhef
          label: Aanhef
          channel: mail
          dimension: form
          weight: 1
          observe: salutation
          scale: {kind: bands, bands: [{up_to: 0, value: 4}], above: 10}
          source: test
        - id: spelling
          label: Spelling
          channel: mail
          dimension: form
          weight: 1
          observe: spelling_errors
          scale: {kind: ordinal, values: {"0": 10}}
          source: test
        """
    message = problems_of(model_text(extra))
    assert "criterion 'aanhef': fact 'salutation' is categorical" in message
    assert "criterion 'spelling': fact 'spelling_errors' is numeric; it needs a band scale" in (
        message
    )


def test_answered_criterion_needs_an_ordinal_scale() -> None:
    message = problems_of(model_text().replace("    observe: reply_hours\n", ""))
    assert "criterion 'snelheid_mail': an answered criterion (no 'observe') needs an ordinal" in (
        message
    )


def test_critical_cap_rules() -> None:
    def with_critical(critical: str) -> str:
        return model_text().replace(
            "    weight: 2\n    scale:\n      kind: ordinal\n"
            "      values: {juist: 10, onjuist: 2}\n    source: test\n  - id: snelheid_mail",
            f"    weight: 2\n    critical: {critical}\n    scale:\n      kind: ordinal\n"
            "      values: {juist: 10, onjuist: 2}\n    source: test\n  - id: snelheid_mail",
        )

    ok = load_model_text(with_critical("{below: 3, effect: cap, cap: 5.4}"))
    assert ok.by_id["juist"].critical is not None
    assert load_model_text(with_critical("{below: 3, effect: zero}")).by_id["juist"].critical

    message = problems_of(with_critical("{below: 3, effect: cap}"))
    assert "criterion 'juist': critical effect 'cap' needs a 'cap' value" in message
    message = problems_of(with_critical("{below: 3, effect: zero, cap: 5}"))
    assert "criterion 'juist': critical effect 'zero' takes no 'cap' value" in message
    message = problems_of(with_critical("{below: 3, effect: cap, cap: 12}"))
    assert "criterion 'juist': critical cap 12 is outside 1–10" in message
    message = problems_of(with_critical("{below: 2, effect: cap, cap: 5}"))
    assert "criterion 'juist': critical below 2 can never apply" in message
    message = problems_of(with_critical("{below: 3, effect: knockout}"))
    assert "criterion 'juist' (critical.effect)" in message


def test_unknown_key_typo() -> None:
    message = problems_of(model_text().replace("    weight: 2\n", "    wieght: 2\n", 1))
    assert "criterion 'juist': unknown key 'wieght'" in message
    assert "criterion 'juist': missing required key 'weight'" in message
    message = problems_of(model_text().replace("values: {juist: 10, onjuist: 2}", "valeus: {}", 1))
    assert "criterion 'juist' (scale): unknown key 'valeus'" in message
    message = problems_of(model_text().replace("title: Test", "titel: Test"))
    assert "unknown key 'titel'" in message


def test_missing_source() -> None:
    text = model_text().replace("    source: test\n  - id: juist\n", "  - id: juist\n")
    assert "criterion 'vriendelijkheid': missing required key 'source'" in problems_of(text)
    text = model_text().replace(
        "    source: test\n  - id: juist\n", "    source: ' '\n  - id: juist\n"
    )
    assert "criterion 'vriendelijkheid' (source)" in problems_of(text)


def test_channel_without_a_content_criterion() -> None:
    text = model_text().replace(
        "  - id: juist_mail\n    label: Juiste antwoord\n    channel: mail\n    dimension: content",
        "  - id: juist_mail\n    label: Juiste antwoord\n    channel: mail\n    dimension: form",
    )
    assert "channel 'mail' has no content criterion" in problems_of(text)


def test_several_problems_are_all_reported_with_the_file_name() -> None:
    text = model_text().replace("vriendelijk: 8", "vriendelijk: 11")
    text = text.replace("observe: reply_hours", "observe: nope")
    message = problems_of(text)
    assert message.splitlines()[0] == "bad.yaml: 2 problems"
    assert "criterion 'vriendelijkheid'" in message and "criterion 'snelheid_mail'" in message


def test_criterion_with_a_bad_id_is_named_by_position() -> None:
    message = problems_of(model_text().replace("id: juist_mail", "id: Juist-Mail"))
    assert "criterion 'Juist-Mail' (id)" in message
    message = problems_of(model_text().replace("  - id: juist_mail\n", "  - label_only: x\n"))
    assert "criterion #4 (no valid id)" in message


def test_unquoted_version_is_refused_with_a_hint() -> None:
    text = model_text().replace('version: "1"', "version: 2026.10")
    assert "quote it" in problems_of(text)


def test_yes_and_no_stay_answers_and_duplicate_keys_are_errors() -> None:
    extra = """\
        - id: autoreply
          label: Autoreply
          channel: mail
          dimension: form
          weight: 1
          observe: auto_reply
          scale: {kind: ordinal, values: {yes: 10, no: 4}}
          source: test
        """
    model = load_model_text(model_text(extra))
    assert model.by_id["autoreply"].value("no") == 4
    text = model_text().replace("    weight: 2\n", "    weight: 2\n    weight: 3\n", 1)
    message = problems_of(text)
    assert "line 21, column 5: found the key 'weight' twice" in message


def test_yaml_syntax_error_reports_the_line() -> None:
    text = model_text().replace("    label: Juiste antwoord\n", "    label: [Juiste antwoord\n", 1)
    message = problems_of(text)
    assert "YAML syntax error at line" in message
    bad = "id: x\nversion: '1'\ntitle: t\ncriteria:\n  - id: a\n   label: b\n"
    message = problems_of(bad)
    assert "line 6" in message


def test_not_a_mapping_and_empty() -> None:
    assert "must be a mapping" in problems_of("- a\n- b\n")
    assert "empty" in problems_of("# nothing\n")


def test_load_model_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "meetlat.yaml"
    path.write_text(model_text().replace("vriendelijk: 8", "vriendelijk: 11"), encoding="utf-8")
    with pytest.raises(ModelError) as info:
        load_model_file(path)
    assert str(path) in str(info.value) and "criterion 'vriendelijkheid'" in str(info.value)
    with pytest.raises(ModelError, match="no such file"):
        load_model_file(tmp_path / "missing.yaml")


def test_direct_validation_names_the_criterion_too() -> None:
    """Semantic errors name the criterion even without the loader's rewriting."""
    import yaml

    data = yaml.safe_load(model_text().replace("{up_to: 72, value: 2}", "{up_to: 12, value: 2}"))
    with pytest.raises(ValueError, match="criterion 'snelheid_mail': bands must have strictly"):
        ScoringModel.model_validate(data)


# ---------------------------------------------------------------- the catalogue


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_catalogue_resolves_default_id_key_and_path(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    write(folder, "t1.yaml", model_text(version="2026.2"))
    write(folder, "t2.yml", model_text(version="2026.10"))
    write(folder, "notes.txt", "not a model")
    catalogue = ModelCatalogue(folder)
    assert catalogue.keys() == [
        "kvk-mystery-guest@2026.1",
        "test-model@2026.2",
        "test-model@2026.10",
    ]
    assert [m.key for m in catalogue.models()] == catalogue.keys()
    assert "test-model@2026.10" in catalogue
    assert catalogue.resolve(None) is default_model()
    assert catalogue.resolve("kvk-mystery-guest").key == "kvk-mystery-guest@2026.1"
    assert catalogue.resolve("kvk-mystery-guest@2026.1") is default_model()
    assert catalogue.resolve("test-model").version == "2026.10"  # natural sort, not "2026.2"
    assert catalogue.resolve("test-model@2026.2").version == "2026.2"
    assert catalogue.get("test-model", "2026.2").key == "test-model@2026.2"
    assert catalogue.origin(catalogue.get("test-model", "2026.2")) == str(folder / "t1.yaml")

    path = write(tmp_path, "elsewhere.yaml", model_text(version="9"))
    assert catalogue.resolve(str(path)).key == "test-model@9"
    assert catalogue.resolve(path).key == "test-model@9"
    # a model chosen by file is registered: the id@version its scores record resolves later
    assert catalogue.resolve("test-model@9").key == "test-model@9"
    assert catalogue.origin(catalogue.get("test-model", "9")) == str(path)


def test_catalogue_unknown_id_lists_the_available_keys() -> None:
    catalogue = ModelCatalogue()
    with pytest.raises(UnknownModelError) as info:
        catalogue.resolve("nope")
    assert "no scoring model 'nope'" in str(info.value)
    assert "kvk-mystery-guest@2026.1" in str(info.value)
    with pytest.raises(KeyError, match=r"kvk-mystery-guest@2026\.1"):
        catalogue.get("kvk-mystery-guest", "1999.1")
    with pytest.raises(ModelError, match="no such file"):
        catalogue.resolve("missing/model.yaml")


def test_catalogue_refuses_two_different_models_with_one_key(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", model_text())
    write(tmp_path, "b.yaml", "# the same model, laid out differently\n" + model_text())
    assert ModelCatalogue(tmp_path).get("test-model", "1")  # equal content: fine

    write(tmp_path, "c.yaml", model_text().replace("self_callback: 1.5", "self_callback: 2"))
    with pytest.raises(ModelError) as info:
        ModelCatalogue(tmp_path)
    message = str(info.value)
    assert "test-model@1 is already defined, differently" in message
    assert "c.yaml" in message and "new version" in message


def test_a_file_may_not_redefine_a_builtin_key(tmp_path: Path) -> None:
    text = Path(builtin_models_path()).read_text(encoding="utf-8")
    write(tmp_path, "copy.yaml", text)  # an identical copy is harmless
    assert ModelCatalogue(tmp_path).resolve(None) == default_model()
    edited = write(tmp_path, "edited.yaml", text.replace("self_callback: 1.5", "self_callback: 1"))
    with pytest.raises(ModelError, match="already defines differently"):
        ModelCatalogue().resolve(str(edited))
    with pytest.raises(ModelError, match=r"kvk-mystery-guest@2026\.1 is already defined"):
        ModelCatalogue(tmp_path)


def test_catalogue_collects_bad_files(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", model_text().replace("observe: reply_hours", "observe: nope"))
    with pytest.raises(ModelError) as info:
        ModelCatalogue(tmp_path)
    assert "bad.yaml" in str(info.value) and "criterion 'snelheid_mail'" in str(info.value)


def test_version_key_is_natural() -> None:
    versions = ["2026.10", "2026.2", "2026.1", "2025.12", "2026.1-rc1"]
    assert sorted(versions, key=version_key) == [
        "2025.12",
        "2026.1",
        "2026.1-rc1",
        "2026.2",
        "2026.10",
    ]


def builtin_models_path() -> Path:
    import services.scoring

    return Path(services.scoring.__file__).parent / "models" / "kvk-mystery-guest-2026.1.yaml"


def test_every_builtin_model_file_is_loaded() -> None:
    folder = builtin_models_path().parent
    keys = {load_model_file(p).key for p in folder.glob("*.yaml")}
    assert keys == set(builtin_models())


# ---------------------------------------------------------------- answers against the model


def test_answer_errors() -> None:
    model = default_model()
    assert model.answer_errors("phone", {"vriendelijkheid_aanname": "vriendelijk"}) == []
    assert model.answer_errors("mail", {"juist_antwoord_mail": "deels juist"}) == []
    errors = model.answer_errors(
        "phone",
        {
            "vriendelijkheid_aanname": "heel aardig",
            "snelheid_mail": "snel",
            "doorverbinden": "warm",
            "bestaat_niet": "x",
        },
    )
    assert len(errors) == 4
    assert (
        "criterion 'vriendelijkheid_aanname': answer 'heel aardig' is not on its scale"
        in (errors[0])
    )
    assert "criterion 'snelheid_mail' is not a phone criterion" in errors[1]
    assert "criterion 'doorverbinden' is observed from 'transfer_handling'" in errors[2]
    assert "criterion 'bestaat_niet' is not a phone criterion" in errors[3]


# ---------------------------------------------------------------- the table


def test_model_rows_render_the_seed_scales() -> None:
    model = default_model()
    rows = {row[0]: row for row in model_rows(model)}
    assert len(rows) == len(model.criteria)
    assert all(len(row) == len(MODEL_COLUMNS) for row in rows.values())
    friendly = dict(zip(MODEL_COLUMNS, rows["vriendelijkheid_aanname"], strict=True))
    assert friendly["label"] == "Vriendelijkheid van de aanname"
    assert friendly["weight"] == "1"
    assert friendly["scale"] == (
        "zeer vriendelijk 10 · vriendelijk 8 · niet onvriendelijk 6 · neutraal 4 · "
        "onvriendelijk 2 · zeer onvriendelijk 1"
    )
    mail = dict(zip(MODEL_COLUMNS, rows["snelheid_mail"], strict=True))
    assert mail["scale"] == "reply_hours: ≤24 10 · ≤36 8 · ≤48 6 · ≤60 4 · ≤72 2 · >72 1"
    assert (mail["channel"], mail["dimension"], mail["phases"]) == ("mail", "form", "contact")
    answer = dict(zip(MODEL_COLUMNS, rows["juist_antwoord"], strict=True))
    assert answer["critical"] == "<3 → cap 5.4"
    assert answer["N/A"].startswith("no") and friendly["N/A"] == "yes"
