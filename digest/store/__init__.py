"""The store: the database every other part keeps its records in.

- ``db``: the SQLAlchemy Core tables, engines and transactions, and the Alembic migrations
  (``migrations/``, one file per revision).
- ``bulk``: many rows at once, through the driver.
- ``dbcopy``: `digest db copy`, a SQLite database into PostgreSQL.

May import: the base only. It knows nothing of what is kept in it.
"""
