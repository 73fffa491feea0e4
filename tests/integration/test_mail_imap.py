"""Mail ingestion from a real IMAP server: Dovecot (Debian `dovecot-imapd`), started by the
test with its own configuration on a free loopback port (plain-text login against a
passwd-file, Maildir storage in a temporary directory) and stopped afterwards.

Sent mystery mails are put in its Sent folder and the corpus in the inbox (IMAP APPEND);
`meetlat ingest mail --imap` then runs against it on the live pipeline (embedded broker), and
the mail contacts' score revisions appear. A second run adds nothing; recreating the Sent
folder (a new UIDVALIDITY) adds nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import Engine

from schemas.scores import ScoreRevision
from services.ingest.archive import EventArchive
from services.ingest.mail_service import MailConfig, MailIngestReport, ingest_mail
from services.ingest.mail_sources import ImapAccount, ImapSource, MailSourceError
from services.ingest.mail_store import MailStore
from services.ingest.publisher import KafkaPublisher
from services.ingest.service import publish_heartbeat
from services.runtime.broker import EmbeddedBroker
from services.runtime.settings import Settings
from services.runtime.worker import running_pipeline, wait_until_drained
from tests.conftest import missing_peer
from tests.integration.conftest import read_topic
from tests.integration.mailfiles import KINDS, RECEIVED, SENT, RecordingPublisher, sent_message

USER, PASSWORD = "mysterie", "geheim-wachtwoord"
CONFIG = MailConfig()


@dataclass(frozen=True)
class Dovecot:
    port: int
    url: str
    process: subprocess.Popen[bytes]

    def drop_connections(self) -> None:
        """Kill the server's IMAP sessions, as a network failure would end them; the server
        itself goes on."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                name, rest = stat.read_text().rsplit(")", 1)
                if name.endswith("(imap") and int(rest.split()[1]) == self.process.pid:
                    os.kill(int(stat.parent.name), signal.SIGKILL)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(USER, PASSWORD)
        return client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int) -> str:
    # Dovecot refuses mail processes running as root; as root, mail is kept as `nobody`.
    if os.getuid() == 0:
        owner = pwd.getpwnam("nobody")
        uid, gid = owner.pw_uid, owner.pw_gid
        os.chown(root / "mail", uid, gid)
        users = ""
    else:
        uid, gid = os.getuid(), os.getgid()
        me = pwd.getpwuid(uid).pw_name
        users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
listen = 127.0.0.1
protocols = imap
first_valid_uid = 1
{users}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
mail_location = maildir:{root}/mail/%u
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
"""


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        missing_peer("dovecot not installed (Debian package dovecot-imapd)")
        return
    root = Path(tempfile.mkdtemp(prefix="meetlat-dovecot-"))
    root.chmod(0o755)  # the mail user (`nobody` under root) must reach its Maildir
    for name in ("run", "state", "mail"):
        (root / name).mkdir()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
    port = _free_port()
    (root / "dovecot.conf").write_text(_config(root, port), encoding="utf-8")
    process = subprocess.Popen(
        [binary, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Dovecot(port, f"imap://{USER}@127.0.0.1:{port}/", process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (root / "dovecot.log").read_text("utf-8", "replace")[-2000:]
                    out = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"dovecot did not start: {out}{log}")
                time.sleep(0.1)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def fill(server: Dovecot) -> None:
    client = server.client()
    try:
        for sent in SENT:
            client.append("Sent", sent_message(sent), flags=(b"\\Seen",))
        for path in RECEIVED:
            client.append("INBOX", path.read_bytes())
    finally:
        client.logout()


def source(server: Dovecot, store: MailStore) -> ImapSource:
    return ImapSource(
        ImapAccount.from_url(server.url),
        PASSWORD,
        checkpoint=store.checkpoint,
        save_checkpoint=store.save_checkpoint,
    )


def run_once(server: Dovecot, store: MailStore, archive: EventArchive, publisher, topics):  # type: ignore[no-untyped-def]
    imap = source(server, store)
    return ingest_mail(imap.fetch(), store, archive, publisher, topics, CONFIG, commit=imap.commit)


def test_the_account_url_never_carries_the_password() -> None:
    account = ImapAccount.from_url("imaps://jan%40meetlat.nl@imap.example.nl/")
    assert (account.username, account.port, account.tls) == ("jan@meetlat.nl", 993, True)
    with pytest.raises(ValueError, match="password"):
        ImapAccount.from_url("imaps://jan:secret@imap.example.nl/")
    imap = ImapSource(account, "secret", checkpoint=lambda a, f: None, save_checkpoint=print)
    assert "secret" not in repr(imap)


def test_an_imap_account_that_cannot_be_read_is_named(dovecot: Dovecot, engine: Engine) -> None:
    store = MailStore(engine)
    account = ImapAccount.from_url(dovecot.url)

    def attempt(**changes: object) -> str:
        imap = replace(source(dovecot, store), **changes)  # type: ignore[arg-type]
        with pytest.raises(MailSourceError) as failed:
            list(imap.fetch())
        return str(failed.value)

    assert attempt(password="wrong").startswith(
        f"the IMAP server refused the login of {account.name}: "
    )
    assert attempt(folders=("INBOX", "Nergens")).startswith(
        f"cannot open the IMAP folder 'Nergens' of {account.name}: "
    )
    closed = replace(account, port=_free_port())
    assert attempt(account=closed).startswith(f"cannot reach the IMAP server of {closed.name}: ")


def test_a_connection_lost_half_way_is_named_and_commits_nothing(
    dovecot: Dovecot, engine: Engine
) -> None:
    fill(dovecot)
    store = MailStore(engine)
    imap = replace(source(dovecot, store), batch=1)
    mails = imap.fetch()
    first = next(mails)
    assert first.from_sent_folder
    dovecot.drop_connections()
    with pytest.raises(MailSourceError) as failed:
        list(mails)
    assert str(failed.value).startswith(
        f"lost the connection to the IMAP server of {imap.account.name} while reading "
        "the folder 'Sent': "
    )
    imap.commit()
    assert store.checkpoint(imap.account.name, "Sent") is None  # read again next time


def test_imap_ingest_is_incremental_and_survives_a_uidvalidity_change(
    dovecot: Dovecot, engine: Engine
) -> None:
    from services.runtime.topics import Topics

    fill(dovecot)
    store, archive = MailStore(engine), EventArchive(engine)
    topics = Topics.for_settings(Settings(topic_prefix="timap"))
    publisher = RecordingPublisher()
    first: MailIngestReport = run_once(dovecot, store, archive, publisher, topics)
    assert first.fetched == len(SENT) + len(RECEIVED)
    assert first.sent == len(SENT)
    assert first.replies == list(KINDS.values()).count("mail.replied")
    assert first.auto_replies == list(KINDS.values()).count("mail.auto_replied")
    assert first.unmatched == list(KINDS.values()).count("unmatched")
    events = EventArchive(engine).count()
    assert events == first.new_events > 0
    account = ImapAccount.from_url(dovecot.url).name
    for folder in ("Sent", "INBOX"):  # kept in SQL: UIDVALIDITY and the highest UID fetched
        validity, last_uid = store.checkpoint(account, folder) or (0, 0)
        assert validity > 0 and last_uid == (len(SENT) if folder == "Sent" else len(RECEIVED))

    # nothing new: nothing fetched at all
    second = run_once(dovecot, store, archive, RecordingPublisher(), topics)
    assert second.fetched == 0 and second.new_events == 0

    # the messages were left in place and unread
    client = dovecot.client()
    try:
        client.select_folder("INBOX", readonly=True)
        assert len(client.search(["UNSEEN"])) == len(RECEIVED)
        # the Sent folder is recreated with the same mails: a new UIDVALIDITY
        before = client.folder_status("Sent", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        client.delete_folder("Sent")
        client.create_folder("Sent")
        for sent in SENT:
            client.append("Sent", sent_message(sent), flags=(b"\\Seen",))
        after = client.folder_status("Sent", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        # and one new reply arrives
        new_reply = RECEIVED[0].read_bytes().replace(b"Message-ID: <", b"Message-ID: <again.", 1)
        client.append("INBOX", new_reply)
    finally:
        client.logout()
    assert after != before
    third = run_once(dovecot, store, archive, RecordingPublisher(), topics)
    assert third.fetched == len(SENT) + 1
    assert third.duplicates == len(SENT)  # the recreated Sent folder: nothing twice
    assert third.sent == 0
    assert third.replies + third.auto_replies == 1
    assert EventArchive(engine).count() == events + third.new_events
    assert third.new_events <= 1
    assert store.raw_count() == len(SENT) + len(RECEIVED) + 1


def read_scores(broker: EmbeddedBroker, topic: str) -> list[ScoreRevision]:
    return [ScoreRevision.model_validate_json(m.value) for m in read_topic(broker.url, topic)]


@pytest.mark.broker
def test_imap_mail_scores_appear_in_the_pipeline(
    dovecot: Dovecot, broker: EmbeddedBroker, settings: Settings
) -> None:
    from datetime import UTC, datetime

    fill(dovecot)

    async def scenario() -> tuple[MailIngestReport, list[ScoreRevision]]:
        async with running_pipeline(settings, broker.url) as pipeline:
            publisher = KafkaPublisher(broker.url)
            store, archive = MailStore(pipeline.engine), EventArchive(pipeline.engine)
            report = await asyncio.to_thread(
                run_once, dovecot, store, archive, publisher, pipeline.topics
            )
            # vouch for event time: every reply deadline of the February mails has passed
            await asyncio.to_thread(
                publish_heartbeat, archive, publisher, pipeline.topics, "test", datetime.now(UTC)
            )
            publisher.close()
            await wait_until_drained(pipeline, broker.url, timeout=120)
            scores = await asyncio.to_thread(read_scores, broker, pipeline.topics.scores)
            return report, scores

    report, scores = asyncio.run(scenario())
    assert report.sent == len(SENT)
    latest: dict[str, ScoreRevision] = {}
    for revision in scores:
        if revision.revision >= latest.get(revision.contact_id, revision).revision:
            latest[revision.contact_id] = revision
    contacts = {str(s.contact_id) for s in SENT}
    assert contacts <= set(latest), contacts - set(latest)
    assert all(r.channel == "mail" for r in latest.values())
    answered = {c for c, r in latest.items() if r.answered}
    # a contact whose mail got a real reply (matched) is scored as answered
    assert len(answered) >= list(KINDS.values()).count("mail.replied") // 2
    assert any(r.facts.get("auto_reply") == "yes" for r in latest.values())
