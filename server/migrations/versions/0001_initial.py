"""The schema as it was before migrations existed: tokens, datasets, jobs and the self-hosted Hub's tables.

Each table is created only when missing: a database from before migrations is adopted by running this on it
(older releases created the Hub's tables only once the API had started).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for table, create in TABLES.items():
        if table not in present:
            create()


def _tokens() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_tokens_token_hash", "tokens", ["token_hash"], unique=True)


def _datasets() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("raw_sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_datasets_owner_id", "datasets", ["owner_id"])
    op.create_index("ix_datasets_created_at", "datasets", ["created_at"])


def _jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("model_path", sa.String(300), nullable=True),
        sa.Column("model_bytes", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_jobs_owner_id", "jobs", ["owner_id"])
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])


def _hub_namespaces() -> None:
    op.create_table(
        "hub_namespaces",
        sa.Column("name", sa.String(96), primary_key=True),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_hub_namespaces_owner_id", "hub_namespaces", ["owner_id"])


def _hub_repos() -> None:
    op.create_table(
        "hub_repos",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("repo_id", sa.String(200), nullable=False),
        sa.Column("namespace", sa.String(96), sa.ForeignKey("hub_namespaces.name"), nullable=False),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_hub_repos_repo_id", "hub_repos", ["repo_id"], unique=True)
    op.create_index("ix_hub_repos_namespace", "hub_repos", ["namespace"])
    op.create_index("ix_hub_repos_owner_id", "hub_repos", ["owner_id"])


def _hub_commits() -> None:
    op.create_table(
        "hub_commits",
        sa.Column("oid", sa.String(40), primary_key=True),
        sa.Column("repo_pk", sa.String(32), sa.ForeignKey("hub_repos.id"), nullable=False),
        sa.Column("parent_oid", sa.String(40), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("card_data", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_hub_commits_repo_pk", "hub_commits", ["repo_pk"])


def _hub_refs() -> None:
    op.create_table(
        "hub_refs",
        sa.Column("repo_pk", sa.String(32), sa.ForeignKey("hub_repos.id"), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("commit_oid", sa.String(40), sa.ForeignKey("hub_commits.oid"), nullable=False),
    )


#: In dependency order (foreign keys point backwards).
TABLES = {
    "tokens": _tokens,
    "datasets": _datasets,
    "jobs": _jobs,
    "hub_namespaces": _hub_namespaces,
    "hub_repos": _hub_repos,
    "hub_commits": _hub_commits,
    "hub_refs": _hub_refs,
}


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
