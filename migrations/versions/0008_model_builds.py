"""model builds: models retrained from the published knowledge base

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('model_builds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inputs', sa.String(length=64), nullable=False),
    sa.Column('code_inputs', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('model_file', sa.String(length=255), nullable=True),
    sa.Column('model_sha256', sa.String(length=64), nullable=True),
    sa.Column('knowledge_revision', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('live_since', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('inputs')
    )
    op.create_index(op.f('ix_model_builds_live_since'), 'model_builds', ['live_since'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_model_builds_live_since'), table_name='model_builds')
    op.drop_table('model_builds')
