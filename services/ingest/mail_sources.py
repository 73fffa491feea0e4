"""Where the mystery mailer's mail comes from: IMAP, Maildir, mbox, folders of .eml files.

An adapter: it only fetches bytes. Every source yields `FetchedMail` (the raw bytes, where
they came from, and whether they came from a Sent folder); what they mean is decided by
`services.ingest.mail_service` and the pure analysis.

IMAP (`imapclient`) reads the Sent folder (the mystery mails themselves) and the inbox,
incrementally by UID: per account and folder the UIDVALIDITY and the highest UID fetched are
kept in SQL (`MailStore`), and saved only once the fetched messages are archived, so a re-run
fetches nothing twice. A changed UIDVALIDITY (the folder was recreated) starts the folder from
the beginning; the raw archive's content hash and Message-ID keep those messages from being
counted twice. Messages are fetched with `BODY.PEEK[]` on a read-only selection: left in
place, not even marked as read. The password is never logged or shown.
"""

from __future__ import annotations

import contextlib
import mailbox
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


class MailSourceError(RuntimeError):
    """A mail source that cannot be read: the server unreachable, the login refused, a folder
    missing, the connection lost half-way, a folder that is no Maildir. The message names the
    account (never the password) and the folder."""


SENT_FOLDER_NAMES = frozenset(
    {"sent", "sent items", "sent messages", "sent mail", "verzonden", "verzonden items"}
)


@dataclass(frozen=True)
class FetchedMail:
    raw: bytes
    source: str  # where it came from, for a human (no password in it)
    from_sent_folder: bool


class Source(Protocol):
    kind: str

    def fetch(self) -> Iterator[FetchedMail]: ...

    def commit(self) -> None:
        """Called once the fetched messages are archived: remember how far we got."""


def _is_sent_folder(name: str) -> bool:
    leaf = name.replace("\\", "/").split("/")[-1].split(".")[-1].strip().lower()
    return leaf in SENT_FOLDER_NAMES


@dataclass
class MaildirSource:
    """A Maildir and its Maildir++ subfolders (`.Sent` and the like are Sent folders)."""

    path: Path
    kind: str = "maildir"

    def fetch(self) -> Iterator[FetchedMail]:
        root = mailbox.Maildir(self.path, factory=None, create=False)
        boxes: list[tuple[str, mailbox.Maildir]] = [("", root)]
        for name in sorted(root.list_folders()):
            boxes.append((name, root.get_folder(name)))
        for name, box in boxes:
            folder = self.path / f".{name}" if name else self.path
            if not all((folder / sub).is_dir() for sub in ("cur", "new")):
                raise MailSourceError(f"not a Maildir: {folder} has no cur/ and new/ folders")
            sent = bool(name) and _is_sent_folder(name)
            for key in sorted(box.iterkeys()):
                yield FetchedMail(box.get_bytes(key), f"maildir:{self.path}/{name}:{key}", sent)

    def commit(self) -> None:
        return None


@dataclass
class MboxSource:
    path: Path
    kind: str = "mbox"

    def fetch(self) -> Iterator[FetchedMail]:
        box = mailbox.mbox(self.path, factory=None, create=False)
        sent = _is_sent_folder(self.path.stem)
        try:
            for number, key in enumerate(box.iterkeys()):
                yield FetchedMail(box.get_bytes(key), f"mbox:{self.path}#{number}", sent)
        finally:
            box.close()

    def commit(self) -> None:
        return None


@dataclass
class EmlSource:
    """A folder of .eml files (recursively); files under a folder named like a Sent folder
    are sent mails."""

    path: Path
    kind: str = "eml"

    def fetch(self) -> Iterator[FetchedMail]:
        for file in sorted(self.path.rglob("*.eml")):
            relative = file.relative_to(self.path)
            sent = any(_is_sent_folder(part) for part in relative.parts[:-1])
            yield FetchedMail(file.read_bytes(), f"eml:{file}", sent)

    def commit(self) -> None:
        return None


@dataclass(frozen=True)
class ImapAccount:
    """`imaps://user@host:993/` (TLS) or `imap://user@host:143/` (plain, for a local server;
    `?starttls=1` upgrades it). The password is given separately, never in the URL."""

    host: str
    port: int
    username: str
    tls: bool
    starttls: bool = False

    @classmethod
    def from_url(cls, url: str) -> ImapAccount:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ValueError(f"not an IMAP URL (imap:// or imaps://): {parts.scheme}://…")
        if parts.password:
            raise ValueError("put the IMAP password in MEETLAT_IMAP_PASSWORD(_FILE), not the URL")
        if not parts.hostname or not parts.username:
            raise ValueError("an IMAP URL names a user and a host: imaps://user@host/")
        tls = parts.scheme == "imaps"
        return cls(
            host=parts.hostname,
            port=parts.port or (993 if tls else 143),
            username=unquote(parts.username),
            tls=tls,
            starttls="starttls=1" in parts.query,
        )

    @property
    def name(self) -> str:
        """The account as a checkpoint key and in messages (no password)."""
        return f"{self.username}@{self.host}:{self.port}"


Checkpoints = Callable[[str, str], "tuple[int, int] | None"]
SaveCheckpoint = Callable[[str, str, int, int], None]


@dataclass
class ImapSource:
    """The Sent folder and the inbox folders of one IMAP account, fetched incrementally."""

    account: ImapAccount
    password: str = field(repr=False)
    checkpoint: Checkpoints
    save_checkpoint: SaveCheckpoint
    folders: tuple[str, ...] = ("INBOX",)
    sent_folder: str | None = None  # None: the folder flagged \\Sent, else one named "Sent"
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 60.0
    batch: int = 200
    kind: str = "imap"
    _pending: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    def _connect(self):  # type: ignore[no-untyped-def]  # imapclient is untyped
        from imapclient import IMAPClient
        from imapclient.exceptions import IMAPClientError, LoginError

        name = self.account.name
        try:
            client = IMAPClient(
                self.account.host,
                port=self.account.port,
                ssl=self.account.tls,
                ssl_context=self.ssl_context,
                timeout=self.timeout,
            )
        except (OSError, IMAPClientError) as exc:
            raise MailSourceError(f"cannot reach the IMAP server of {name}: {exc}") from exc
        try:
            if self.account.starttls:
                client.starttls(self.ssl_context or ssl.create_default_context())
            client.login(self.account.username, self.password)
        except LoginError as exc:
            client.shutdown()
            raise MailSourceError(f"the IMAP server refused the login of {name}: {exc}") from exc
        except (OSError, IMAPClientError) as exc:
            client.shutdown()
            raise MailSourceError(f"cannot log in to the IMAP server of {name}: {exc}") from exc
        return client

    def _sent_folder(self, client) -> str | None:  # type: ignore[no-untyped-def]
        if self.sent_folder:
            return self.sent_folder
        try:
            found = client.find_special_folder(b"\\Sent")
        except Exception:
            found = None
        if found:
            return str(found)
        names = [str(f[2]) for f in client.list_folders()]
        return next((n for n in names if _is_sent_folder(n)), None)

    def fetch(self) -> Iterator[FetchedMail]:
        """The new mails of each folder; `commit` then records how far they went. A
        connection lost half-way is a `MailSourceError`, and nothing is committed: the next
        fetch reads the folder again from its last checkpoint (the store skips what it has)."""
        from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

        client = self._connect()
        where = "its folders"
        try:
            sent = self._sent_folder(client)
            plan = [(sent, True)] if sent else []
            plan += [(f, False) for f in self.folders if f != sent]
            for folder, is_sent in plan:
                where = f"the folder {folder!r}"
                yield from self._folder(client, folder, is_sent)
        except (OSError, IMAPClientAbortError) as exc:
            raise MailSourceError(
                f"lost the connection to the IMAP server of {self.account.name} while reading "
                f"{where}: {exc or type(exc).__name__}"
            ) from exc
        except IMAPClientError as exc:
            raise MailSourceError(
                f"the IMAP server of {self.account.name} refused to read {where}: {exc}"
            ) from exc
        finally:
            try:
                client.logout()
            except Exception:
                with contextlib.suppress(OSError):  # the connection is gone already
                    client.shutdown()

    def _folder(self, client, folder: str, is_sent: bool) -> Iterator[FetchedMail]:  # type: ignore[no-untyped-def]
        from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

        try:
            info = client.select_folder(folder, readonly=True)
        except IMAPClientAbortError:
            raise  # the connection, not the folder (see `fetch`)
        except IMAPClientError as exc:
            raise MailSourceError(
                f"cannot open the IMAP folder {folder!r} of {self.account.name}: {exc}"
            ) from exc
        validity = int(info[b"UIDVALIDITY"])
        known = self.checkpoint(self.account.name, folder)
        last = known[1] if known and known[0] == validity else 0
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
        highest = last
        for start in range(0, len(uids), self.batch):
            chunk = uids[start : start + self.batch]
            data = client.fetch(chunk, ["BODY.PEEK[]"])
            for uid in chunk:
                item = data.get(uid, {})
                raw = item.get(b"BODY[]")
                if raw is None:  # expunged meanwhile
                    continue
                where = f"imap://{self.account.name}/{folder};UIDVALIDITY={validity}/;UID={uid}"
                yield FetchedMail(bytes(raw), where, is_sent)
                highest = max(highest, uid)
        self._pending[folder] = (validity, highest)

    def commit(self) -> None:
        for folder, (validity, last) in self._pending.items():
            self.save_checkpoint(self.account.name, folder, validity, last)
        self._pending.clear()
