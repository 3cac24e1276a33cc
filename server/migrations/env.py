"""Alembic environment: migrations run on the connection ``server.db.migrate`` hands over (under its lock)."""

from alembic import context

import server.hub_store  # noqa: F401  (its tables are part of the schema)
from server.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
