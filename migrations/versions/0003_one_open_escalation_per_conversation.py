"""one open escalation per conversation

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('open', 'acknowledged')")


def upgrade() -> None:
    op.create_index("uq_open_escalation_per_conversation", "escalations", ["conversation_id"],
                    unique=True, postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index("uq_open_escalation_per_conversation", table_name="escalations")
