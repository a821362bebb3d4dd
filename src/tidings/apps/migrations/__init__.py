"""Versioned Alembic migrations of the app store's tables (applied by ``tidings.apps.migrate``)."""
