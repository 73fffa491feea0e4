"""Snapshots refer to figure sets stored once, instead of copying every figure.

A figure set is every figure of one scope in one campaign wave, stored once by the SHA-256 of
its canonical JSON (`figure_set`, `figure_set_figure`); a snapshot lists the sets it holds
(`snapshot_scope`). Before, every snapshot copied every figure of every campaign ever
measured (`snapshot_figure`), so each one grew with the years. The existing snapshots are
moved over, each equal set stored once; `snapshot_figure` becomes a view with the columns the
table had, so SQL written against it keeps working.

A snapshot's `content_sha256` becomes the SHA-256 of its figure sets' hashes (so that a
snapshot need not read the sets an earlier one stored), and is computed anew that way for the
existing snapshots; downgrading computes the earlier hash again. `scope_state.figure_set_id`
notes which stored set a latest document is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 08:30:00
"""

import hashlib
import json
from collections.abc import Sequence
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VIEW = """
CREATE VIEW snapshot_figure AS
SELECT s.snapshot_id, f.scope_kind, f.scope_id, f.campaign, f.wave,
       g.breakdown, g.metric, g.value, g.label, f.scope_name
FROM snapshot_scope s
JOIN figure_set f ON f.id = s.figure_set_id
JOIN figure_set_figure g ON g.figure_set_id = f.id
"""
_SCOPE = ("scope_kind", "scope_id", "campaign", "wave")
_OLD_COLUMNS = (*_SCOPE, "scope_name", "breakdown", "metric", "value", "label")

# Lightweight tables for moving the data: the migration must not depend on today's models.
_snapshot = sa.table("snapshot", sa.column("id", sa.Integer), sa.column("content_sha256"))
_old = sa.table(
    "snapshot_figure", sa.column("snapshot_id", sa.Integer), *map(sa.column, _OLD_COLUMNS)
)
_set = sa.table(
    "figure_set",
    sa.column("id", sa.Integer),
    sa.column("content_sha256", sa.String),
    *map(sa.column, (*_SCOPE, "scope_name", "figure_count")),
)
_figure = sa.table(
    "figure_set_figure",
    *map(sa.column, ("figure_set_id", "breakdown", "metric", "value", "label")),
)
_link = sa.table("snapshot_scope", sa.column("snapshot_id"), sa.column("figure_set_id"))


def upgrade() -> None:
    op.create_table(
        "figure_set",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=120), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("scope_name", sa.String(length=200), nullable=False),
        sa.Column("figure_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_figure_set")),
        sa.UniqueConstraint("content_sha256", name=op.f("uq_figure_set_content_sha256")),
    )
    op.create_table(
        "figure_set_figure",
        sa.Column("figure_set_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("breakdown", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["figure_set_id"],
            ["figure_set.id"],
            name=op.f("fk_figure_set_figure_figure_set_id_figure_set"),
        ),
        sa.PrimaryKeyConstraint(
            "figure_set_id", "breakdown", "metric", name=op.f("pk_figure_set_figure")
        ),
    )
    op.create_table(
        "snapshot_scope",
        sa.Column("snapshot_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("figure_set_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["figure_set_id"],
            ["figure_set.id"],
            name=op.f("fk_snapshot_scope_figure_set_id_figure_set"),
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["snapshot.id"], name=op.f("fk_snapshot_scope_snapshot_id_snapshot")
        ),
        sa.PrimaryKeyConstraint("snapshot_id", "figure_set_id", name=op.f("pk_snapshot_scope")),
    )
    _move_snapshots(op.get_bind())
    op.drop_table("snapshot_figure")
    op.execute(sa.text(_VIEW))
    op.add_column("scope_state", sa.Column("figure_set_id", sa.Integer(), nullable=True))


def _move_snapshots(conn: sa.Connection) -> None:
    """Every snapshot's figures into figure sets, one snapshot at a time (memory stays that of
    the largest snapshot)."""
    stored: dict[str, int] = {}
    for snapshot_id in conn.scalars(sa.select(_snapshot.c.id).order_by(_snapshot.c.id)).all():
        found = conn.execute(
            sa.select(*(_old.c[name] for name in _OLD_COLUMNS)).where(
                _old.c.snapshot_id == snapshot_id
            )
        ).all()
        rows = _in_order(found)
        links, hashes = [], []
        for _, group in groupby(rows, key=lambda r: r[:4]):
            figures = list(group)
            sha = _content_sha256(figures)
            if sha not in stored:
                stored[sha] = _store_set(conn, sha, figures)
            links.append({"snapshot_id": snapshot_id, "figure_set_id": stored[sha]})
            hashes.append(sha)
        if links:
            conn.execute(sa.insert(_link), links)
        # `services.reporting.figures.sets_sha256`
        digest = hashlib.sha256("".join(f"{h}\n" for h in hashes).encode("ascii")).hexdigest()
        conn.execute(
            sa.update(_snapshot).where(_snapshot.c.id == snapshot_id).values(content_sha256=digest)
        )


def _in_order(rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """Rows of `_OLD_COLUMNS` in the order Meetlat hashes figures: scope, campaign, wave,
    breakdown, metric, by code point in Python (a database's collation may differ)."""
    return sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3], r[5], r[6]))


def _content_sha256(figures: Sequence[Sequence[Any]]) -> str:
    """The SHA-256 Meetlat gives a figure set (`services.reporting.figures.FigureSet`): rows
    [scope_kind, scope_id, campaign, wave, scope_name, breakdown, metric, value, label] as
    compact JSON."""
    canonical = [list(r) for r in figures]
    text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _store_set(conn: sa.Connection, sha: str, figures: Sequence[Sequence[Any]]) -> int:
    kind, scope_id, campaign, wave, name = figures[0][:5]
    set_id: int = conn.execute(
        sa.insert(_set)
        .values(
            content_sha256=sha,
            scope_kind=kind,
            scope_id=scope_id,
            campaign=campaign,
            wave=wave,
            scope_name=name,
            figure_count=len(figures),
        )
        .returning(_set.c.id)
    ).scalar_one()
    conn.execute(
        sa.insert(_figure),
        [
            {"figure_set_id": set_id, "breakdown": b, "metric": m, "value": v, "label": lbl}
            for *_, b, m, v, lbl in figures
        ],
    )
    return set_id


def downgrade() -> None:
    with op.batch_alter_table("scope_state") as batch_op:
        batch_op.drop_column("figure_set_id")
    conn = op.get_bind()
    view = sa.table("snapshot_figure", sa.column("snapshot_id"), *map(sa.column, _OLD_COLUMNS))
    for snapshot_id in conn.scalars(sa.select(_snapshot.c.id)).all():
        found = conn.execute(
            sa.select(*(view.c[name] for name in _OLD_COLUMNS)).where(
                view.c.snapshot_id == snapshot_id
            )
        ).all()
        conn.execute(
            sa.update(_snapshot)
            .where(_snapshot.c.id == snapshot_id)
            .values(content_sha256=_content_sha256(_in_order(found)))
        )
    op.create_table(
        "snapshot_figure_restored",
        sa.Column("snapshot_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("breakdown", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("scope_name", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=120), nullable=False),
        sa.Column("wave", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshot.id"],
            name=op.f("fk_snapshot_figure_snapshot_id_snapshot"),
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", *_SCOPE, "breakdown", "metric", name=op.f("pk_snapshot_figure")
        ),
    )
    columns = ("snapshot_id", *_OLD_COLUMNS)
    op.execute(
        sa.text(
            f"INSERT INTO snapshot_figure_restored ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM snapshot_figure"
        )
    )
    op.execute(sa.text("DROP VIEW snapshot_figure"))
    op.drop_table("snapshot_scope")
    op.drop_table("figure_set_figure")
    op.drop_table("figure_set")
    op.rename_table("snapshot_figure_restored", "snapshot_figure")
