"""Mail ingestion from files, on every SQL backend: the raw archive before events, sent mails
indexed and published as MailSent, replies and auto-replies as their events, bounces and the
holding pen recorded, re-runs adding nothing; the holding pen resolved by hand; reclassifying."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from schemas.events import OBSERVATION_ADAPTER, MailReclassified, MailReplied
from services.ingest.archive import EventArchive
from services.ingest.mail.classify import Classification
from services.ingest.mail_service import (
    MailConfig,
    MailIngestError,
    assign,
    ingest_mail,
    reclassify,
)
from services.ingest.mail_sources import (
    EmlSource,
    FetchedMail,
    MaildirSource,
    MailSourceError,
    MboxSource,
)
from services.ingest.mail_store import MailStore
from services.runtime.settings import Settings
from services.runtime.topics import Topics
from tests.integration.mailfiles import (
    KINDS,
    RECEIVED,
    SENT,
    RecordingPublisher,
    write_eml_folder,
    write_maildir,
    write_mbox,
)
from tests.unit.mail.sent import NOW

TOPICS = Topics.for_settings(Settings(topic_prefix="tmail"))
CONFIG = MailConfig()


def run(engine: Engine, fetched, publisher: RecordingPublisher | None = None):  # type: ignore[no-untyped-def]
    return ingest_mail(
        fetched,
        MailStore(engine),
        EventArchive(engine),
        publisher or RecordingPublisher(),
        TOPICS,
        CONFIG,
        now=NOW,
    )


def expected_counts() -> Counter[str]:
    return Counter(KINDS.values())


def test_a_folder_that_is_no_maildir_is_named(tmp_path: Path) -> None:
    named = f"not a Maildir: {re.escape(str(tmp_path))} has no cur/"
    with pytest.raises(MailSourceError, match=named):
        list(MaildirSource(tmp_path).fetch())
    maildir = write_maildir(tmp_path / "Maildir")
    (maildir / ".Sent" / "cur").rmdir()  # a broken subfolder
    with pytest.raises(MailSourceError, match=r"not a Maildir: .*/Maildir/\.Sent has no"):
        list(MaildirSource(maildir).fetch())


@pytest.mark.parametrize("layout", ["eml", "maildir", "mbox"])
def test_a_mail_folder_is_ingested_once(engine: Engine, tmp_path: Path, layout: str) -> None:
    if layout == "eml":
        source = EmlSource(write_eml_folder(tmp_path / "mail"))
    elif layout == "maildir":
        source = MaildirSource(write_maildir(tmp_path / "Maildir"))
    else:
        source = MboxSource(write_mbox(tmp_path / "mystery.mbox"))
    publisher = RecordingPublisher()
    report = run(engine, source.fetch(), publisher)
    want = expected_counts()
    assert report.fetched == len(SENT) + len(RECEIVED)
    assert report.duplicates == 0
    assert report.sent == len(SENT)
    assert report.replies == want["mail.replied"]
    assert report.auto_replies == want["mail.auto_replied"]
    assert report.bounces == want["bounce"]
    assert report.unmatched == want["unmatched"]
    assert report.quarantined == 0 and report.incomplete == 0
    types = Counter(publisher.types())
    assert types == {
        "mail.sent": len(SENT),
        "mail.replied": want["mail.replied"],
        "mail.auto_replied": want["mail.auto_replied"],
    }
    store = MailStore(engine)
    assert store.raw_count() == len(SENT) + len(RECEIVED)  # every message kept, raw
    assert EventArchive(engine).count() == sum(types.values())
    assert [o.subject for o in store.by_status("unmatched")] != []

    again = RecordingPublisher()
    second = run(engine, source.fetch(), again)
    assert second.fetched == report.fetched == second.duplicates
    assert second.new_events == 0 and again.sent == []
    assert EventArchive(engine).count() == sum(types.values())


def test_replies_before_their_sent_mails_wait_in_the_holding_pen(
    engine: Engine, tmp_path: Path
) -> None:
    mbox = write_mbox(tmp_path / "inbox.mbox", received_only=True)
    first = run(engine, MboxSource(mbox).fetch())
    assert first.sent == 0
    assert first.unmatched == len(RECEIVED) - first.bounces - first.quarantined
    folder = write_eml_folder(tmp_path / "mail")
    publisher = RecordingPublisher()
    second = run(engine, EmlSource(folder).fetch(), publisher)
    assert second.sent == len(SENT)
    assert second.resolved == len(RECEIVED) - first.bounces - expected_counts()["unmatched"]
    assert MailStore(engine).count_status("unmatched") == expected_counts()["unmatched"]
    assert Counter(publisher.types())["mail.replied"] == expected_counts()["mail.replied"]


def test_the_holding_pen_is_resolved_by_hand(engine: Engine, tmp_path: Path) -> None:
    run(engine, EmlSource(write_eml_folder(tmp_path / "mail")).fetch())
    store = MailStore(engine)
    (pending,) = store.by_status("unmatched")
    archive = EventArchive(engine)
    publisher = RecordingPublisher()
    with pytest.raises(MailIngestError):
        assign(store, archive, publisher, TOPICS, CONFIG, pending.sha256[:12], "no-such-contact")
    target = SENT[0]
    outcome = assign(
        store, archive, publisher, TOPICS, CONFIG, pending.sha256[:12], str(target.contact_id)
    )
    assert outcome.status == "event" and outcome.contact_id == target.contact_id
    assert store.count_status("unmatched") == 0
    (event,) = [OBSERVATION_ADAPTER.validate_json(v) for _, _, v in publisher.sent]
    assert event.contact_id == target.contact_id
    assert event.type in ("mail.replied", "mail.auto_replied")


def test_reclassify_retracts_and_replaces_the_events(engine: Engine, tmp_path: Path) -> None:
    run(engine, EmlSource(write_eml_folder(tmp_path / "mail")).fetch())
    store = MailStore(engine)
    reply = next(p for p in RECEIVED if KINDS[p.name] == "mail.replied")
    sha = store.resolve_message(
        next(
            line.split(":", 1)[1].strip()
            for line in reply.read_text("utf-8", "replace").splitlines()
            if line.lower().startswith("message-id:")
        )
    )
    assert sha is not None
    before = store.outcome(sha)
    assert before is not None and before.kind == "reply"
    publisher = RecordingPublisher()
    archive = EventArchive(engine)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    outcome, events = reclassify(
        store, archive, publisher, TOPICS, CONFIG, sha, Classification.AUTO_REPLY, now=at
    )
    fix, auto = events
    assert isinstance(fix, MailReclassified) and fix.retracts == before.event_ids
    assert auto.type == "mail.auto_replied" and auto.contact_id == before.contact_id
    assert outcome.event_ids == (auto.event_id,) and outcome.kind_override == "auto_reply"
    # and back: the auto-reply is retracted, a reply with its facts counts again
    outcome, events = reclassify(
        store, archive, publisher, TOPICS, CONFIG, sha, Classification.REPLY, now=at
    )
    fix, replied = events
    assert isinstance(fix, MailReclassified) and fix.retracts == (auto.event_id,)
    assert isinstance(replied, MailReplied) and replied.salutation_correct is not None
    assert [OBSERVATION_ADAPTER.validate_json(v).type for _, _, v in publisher.sent] == [
        "mail.reclassified",
        "mail.auto_replied",
        "mail.reclassified",
        "mail.replied",
    ]


def test_mail_metrics(engine: Engine, tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {
        "fetched": value("meetlat_mail_fetched_total"),
        "sent": value("meetlat_mail_classified_total", kind="sent"),
        "bounce": value("meetlat_mail_classified_total", kind="bounce"),
        "empty": value("meetlat_mail_quarantined_total", reason="empty"),
    }
    fetched = [*EmlSource(write_eml_folder(tmp_path / "mail")).fetch()]
    fetched.append(FetchedMail(b"   ", "empty", False))
    run(engine, fetched)
    assert value("meetlat_mail_fetched_total") - before["fetched"] == len(fetched)
    assert value("meetlat_mail_classified_total", kind="sent") - before["sent"] == len(SENT)
    want = expected_counts()["bounce"]
    assert value("meetlat_mail_classified_total", kind="bounce") - before["bounce"] == want
    assert value("meetlat_mail_quarantined_total", reason="empty") - before["empty"] == 1
    assert value("meetlat_mail_unmatched") == expected_counts()["unmatched"]


def test_a_message_fetched_twice_with_rewritten_headers_is_one_message(engine: Engine) -> None:
    raw = RECEIVED[0].read_bytes()
    rewritten = b"X-Dovecot-Seen: 1\r\n" + raw  # same Message-ID, other bytes
    report = run(engine, [FetchedMail(raw, "a", False), FetchedMail(rewritten, "b", False)])
    assert report.fetched == 2 and report.duplicates == 1
    assert MailStore(engine).raw_count() == 1


def test_meetlat_mail_unmatched_lists_the_holding_pen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from services.cli import app
    from services.runtime.db import make_engine, upgrade

    monkeypatch.setenv("MEETLAT_DATA_DIR", str(tmp_path / "data"))
    engine = make_engine(Settings().sqlalchemy_url)
    upgrade(engine)
    run(engine, EmlSource(write_eml_folder(tmp_path / "mail")).fetch())
    (pending,) = MailStore(engine).by_status("unmatched")
    result = CliRunner().invoke(app, ["mail", "unmatched"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert pending.sha256[:12] in result.output
    assert "1 unmatched" in result.output


def test_a_sent_mail_without_a_usable_identity_is_kept_as_incomplete(engine: Engine) -> None:
    from tests.integration.mailfiles import sent_message

    good = sent_message(SENT[0])
    bad_code = good.replace(b"X-Meetlat-Municipality: GM", b"X-Meetlat-Municipality: XX")
    no_case = sent_message(SENT[1]).replace(b"X-Meetlat-Case:", b"X-Other:")
    publisher = RecordingPublisher()
    report = run(
        engine, [FetchedMail(bad_code, "a", True), FetchedMail(no_case, "b", True)], publisher
    )
    assert report.incomplete == 2 and report.sent == 0 and publisher.sent == []
    reasons = " | ".join(o.reason for o in MailStore(engine).by_status("incomplete"))
    assert "lacks X-Meetlat-Case" in reasons and "municipality: String should match" in reasons
    assert MailStore(engine).sent() == []


def test_control_characters_in_headers_do_not_reach_the_store(engine: Engine) -> None:
    from tests.integration.mailfiles import sent_message

    # PostgreSQL's text refuses NUL: before the headers were cleaned, such a message failed
    # its fetch batch at every poll.
    sent = sent_message(SENT[0])
    sent = sent.replace(b"X-Meetlat-Case: ", b"X-Meetlat-Case: \x00", 1)
    sent = sent.replace(b"Message-ID: <", b"Message-ID: <\x01\x00", 1)
    received = RECEIVED[0].read_bytes().replace(b"Message-ID: <", b"Message-ID: <\x00", 1)
    assert b"\x00" in sent and b"\x00" in received
    report = run(engine, [FetchedMail(sent, "a", True), FetchedMail(received, "b", False)])
    assert report.fetched == 2 and report.sent == 1, report.problems
    store = MailStore(engine)
    assert store.raw_count() == 2
    (row,) = store.sent()
    assert "\x00" not in row.case and "\x00" not in row.message_id
