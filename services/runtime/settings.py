"""The one settings object. Every knob is a `MEETLAT_` environment variable."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEETLAT_", env_file=".env", extra="ignore")

    broker_url: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, e.g. 'kafka://k1:9092,k2:9092'. "
        "Unset: Meetlat starts its own embedded Tansu broker on a free loopback port.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Unset: SQLite file 'meetlat.db' in the data dir.",
    )
    data_dir: Path = Field(default=Path("meetlat-data"), description="Local state and outputs.")
    partitions: int = Field(default=4, ge=1, description="Partitions of every pipeline topic.")
    replication_factor: int = Field(default=1, ge=1)
    app_id: str = Field(default="meetlat", description="Faust app id = consumer group.")
    topic_prefix: str = Field(default="meetlat", description="Prefix of every topic name.")
    metrics_port: int = Field(
        default=9464, ge=0, description="Prometheus /metrics port of a worker; 0 disables it."
    )
    chamber_map: Path | None = Field(
        default=None, description="CSV (municipality,chamber) overriding the default mapping."
    )
    scoring_model: str | None = Field(
        default=None,
        description="Active scoring model for new contacts: a YAML file, 'id' or 'id@version'. "
        "Unset: the newest built-in kvk-mystery-guest model.",
    )
    models_dir: Path | None = Field(
        default=None, description="Extra directory of scoring model YAML files (for rescoring)."
    )
    watermark_lateness_seconds: float = Field(
        default=3600,
        ge=0,
        description="How far behind the newest event time the scorer's watermark trails, so "
        "slightly late facts arrive before a deadline is decided without them.",
    )
    scorer_contacts_kept: int = Field(
        default=20_000,
        ge=1,
        description="Contacts whose decoded state a scorer keeps in memory between batches "
        "(about 7 KB each), those changed most recently; the rest are decoded from the "
        "contacts table's bytes (about 1.8 KB each) when their next fact or deadline comes.",
    )
    aggregator_ledgers_kept: int = Field(
        default=500,
        ge=1,
        description="Municipality ledgers (one per campaign) a municipality aggregator keeps "
        "decoded in memory between batches, with their figures' memos (about 0.5 MB for 80 "
        "contacts), those changed most recently; the rest are decoded again when they change.",
    )
    combined_scopes_kept: int = Field(
        default=40,
        ge=1,
        description="Chamber and national scopes (one per campaign) a scope combiner keeps in "
        "memory with their members' contributions and merged waves, those used most recently; "
        "the rest are read from its tables again when they change.",
    )
    database_outage_seconds: float = Field(
        default=120,
        ge=0,
        le=86_400,
        description="How long a worker keeps trying a database write that failed on a lost "
        "connection or a held lock (a restart or fail-over of PostgreSQL) before it stops.",
    )
    quadrant_reference: Literal["norm", "median"] = Field(
        default="norm",
        description="Benchmark matrix (KTO × mystery guest): place municipalities against the "
        "scoring model's norm or against the national medians.",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description="exactly_once needs a broker with transactions (Kafka); the embedded "
        "broker has none, so it always runs at-least-once with idempotent consumers.",
    )
    worker_processes: Literal["one", "per-service"] = Field(
        default="one",
        description="`meetlat worker` with several services: all in one process, or one child "
        "process per service, each its own consumer group '<app id>-<service>' (as deployed "
        "in production), so a busy stage does not hold up the others and the stages share "
        "the machine's cores.",
    )
    log_level: str = "warn"
    api_host: str = Field(default="127.0.0.1", description="Address `meetlat serve` listens on.")
    api_port: int = Field(default=8080, ge=1, le=65535, description="Port of `meetlat serve`.")
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the API's writes ask for (putting in events, taking a "
        "snapshot): 'Authorization: Bearer <token>'. Without one the writes are open to "
        "whoever reaches the API, so `meetlat serve` then listens on a loopback address only.",
    )

    # Mail ingestion (`meetlat ingest mail`)
    imap_url: str | None = Field(
        default=None,
        description="The mystery mailer's IMAP account: 'imaps://user@host/' (TLS) or "
        "'imap://user@host:143/' for a local server. No password in the URL.",
    )
    imap_password: SecretStr | None = Field(default=None, description="IMAP password.")
    imap_password_file: Path | None = Field(
        default=None, description="File holding the IMAP password (first line)."
    )
    imap_folders: list[str] = Field(
        default=["INBOX"], description="Folders with received mail (JSON list)."
    )
    imap_sent_folder: str | None = Field(
        default=None,
        description="Folder of the sent mystery mails. Unset: the folder flagged \\Sent, "
        "else one named Sent / Verzonden items.",
    )
    mail_poll_seconds: float = Field(
        default=300, gt=0, description="Interval of `meetlat ingest mail --poll`."
    )
    mail_address: str | None = Field(
        default=None,
        description="The mystery mailer's own address: a message from it with a token in the "
        "subject is a sent mystery mail wherever it is found.",
    )
    mail_persona: str | None = Field(
        default=None,
        description="Name the mystery mailer signs with (salutation check). Unset: the sender "
        "name of the sent mails.",
    )
    mail_campaign: str | None = Field(
        default=None, description="Campaign of sent mails without an X-Meetlat-Campaign header."
    )
    mail_wave: int | None = Field(
        default=None, ge=1, le=99, description="Wave of sent mails without X-Meetlat-Wave."
    )

    @field_validator("database_url")
    @classmethod
    def _sqlite_or_postgresql(cls, url: str | None) -> str | None:
        if not url:  # unset, or set empty: the SQLite file in the data dir
            return url
        from services.runtime.db import database_backend

        database_backend(url)
        return url

    @field_validator("api_token")
    @classmethod
    def _token_not_blank(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("an empty API token would let anyone write: set one, or unset it")
        return token

    def imap_secret(self) -> str | None:
        """The IMAP password, from the setting or the file (never logged)."""
        if self.imap_password is not None:
            return self.imap_password.get_secret_value()
        if self.imap_password_file is not None:
            lines = self.imap_password_file.read_text(encoding="utf-8").splitlines()
            return lines[0] if lines else ""
        return None

    @property
    def embedded(self) -> bool:
        """True when Meetlat runs its own broker (no broker URL configured)."""
        return not self.broker_url

    @property
    def tansu(self) -> bool:
        """True when the broker is Tansu: the embedded one, or one that another Meetlat
        process started (its URL given as 'tansu://host:port', e.g. to a per-service worker)."""
        return self.embedded or (self.broker_url or "").startswith("tansu://")

    def consumer_groups(self, services: Sequence[str]) -> list[tuple[str, str]]:
        """(consumer group, service) of each service of a `meetlat worker` run with these
        settings: all in the app id's group, or one group per service (`worker_processes`)."""
        if self.worker_processes == "one" or len(services) < 2:
            return [(self.app_id, service) for service in services]
        return [(f"{self.app_id}-{service}", service) for service in services]

    @property
    def broker_url_file(self) -> Path:
        """Where a running embedded worker writes its broker URL for `meetlat ingest`/`replay`."""
        return self.data_dir / "broker.url"

    def reachable_broker_url(self) -> str | None:
        """The configured broker, else the embedded broker of a worker running on this data dir."""
        if self.broker_url:
            return self.broker_url
        if self.broker_url_file.exists():
            return self.broker_url_file.read_text(encoding="utf-8").strip() or None
        return None

    @cached_property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'meetlat.db').resolve()}"


def bootstrap_servers(broker_url: str) -> list[str]:
    """'kafka://a:9092;b:9092' or 'a:9092,b:9092' → ['a:9092', 'b:9092'] for kafka-python."""
    hosts = broker_url.replace(";", ",").split(",")
    return [
        h.strip().removeprefix("kafka://").removeprefix("tansu://").rstrip("/")
        for h in hosts
        if h.strip()
    ]
