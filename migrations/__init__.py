"""Alembic migrations of the bonas store (a package, so that it ships in the wheel).

Run them with `bonas db upgrade` (or `service.store.migrate.upgrade`); developers may also use the
``alembic`` command with the root ``alembic.ini``.
"""
