"""Databases and caches.

* ``database``: DB-API connections, SQLite or ODBC (SQL Server), with access tokens
* ``schema``: creating the SQLite schema from ``infra/sql/sqlite/``
* ``cache``: a small bounded cache whose entries live for the revocation bound
"""
