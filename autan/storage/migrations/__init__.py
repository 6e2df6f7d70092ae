"""Alembic migrations, applied by ``Database.migrate`` at start."""
