"""SQLAlchemy tables, their Alembic migrations and the database they live in."""
