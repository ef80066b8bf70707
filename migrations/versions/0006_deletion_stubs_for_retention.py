"""deletion stubs record why (patient request or retention), the cutoff and counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 12:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('data_deletions', schema=None) as batch_op:
        # Existing stubs were all written for patients' requests.
        batch_op.add_column(sa.Column('reason', sa.String(length=32), server_default='patient_request',
                                      nullable=False))
        batch_op.add_column(sa.Column('cutoff_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('counts', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_data_deletions_completed_at'), ['completed_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('data_deletions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_deletions_completed_at'))
        batch_op.drop_column('counts')
        batch_op.drop_column('cutoff_at')
        batch_op.drop_column('reason')
