"""Persistence: SQLAlchemy models, the database session factory and the stores built on them."""
