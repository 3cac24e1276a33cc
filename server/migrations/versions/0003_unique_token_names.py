"""Token names unique in the database, up to case (``tokens.name_key``): checking them in Python alone let two
creations that raced both through, two tenants claiming one Hub namespace.

Tokens that already share a name stay, with their datasets and jobs: the oldest of them holds the name, so no further
token gets it; the others keep no key (a unique column admits any number of NULLs on SQLite and PostgreSQL).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    # A database from before migrations has the column already: adopting it adds the models' nullable columns.
    if "name_key" not in {column["name"] for column in sa.inspect(bind).get_columns("tokens")}:
        op.add_column("tokens", sa.Column("name_key", sa.String(600), nullable=True))
    tokens = sa.table("tokens", sa.column("id"), sa.column("name"), sa.column("name_key"), sa.column("created_at"))
    oldest_first = sa.select(tokens.c.id, tokens.c.name).order_by(tokens.c.created_at, tokens.c.id)
    held: set[str] = set()
    for token_id, name in bind.execute(oldest_first).all():
        key = name.casefold()
        bind.execute(tokens.update().where(tokens.c.id == token_id).values(name_key=None if key in held else key))
        held.add(key)
    op.create_index("ix_tokens_name_key", "tokens", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_tokens_name_key", table_name="tokens")
    with op.batch_alter_table("tokens") as batch:  # SQLite drops a column by rebuilding the table
        batch.drop_column("name_key")
