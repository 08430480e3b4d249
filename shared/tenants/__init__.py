"""Tenants: partners whose users log in with a JWT the partner signs.

* ``registry``: registered tenants and their pinned key source (PEM, JWKS URL, HS256 secret)
* ``login``: seamless login, a tenant JWT in and a session out, each token accepted once
* ``jwks``: fetching a tenant's JWKS safely (https, no private addresses, bounded)
"""
