"""Database backend: Django's PostgreSQL backend, with a dropped connection
noticed without a round trip (see base.py)."""
