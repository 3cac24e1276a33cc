"""An index for the claim query (queued jobs of one owner, oldest first), so claims stay fast with many
finished jobs in the table.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_state_owner_created", "jobs", ["state", "owner_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_owner_created", table_name="jobs")
