"""Teamline's PostgreSQL backend: Django's, failing fast while the database is unreachable."""
