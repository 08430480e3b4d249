"""Payers: the guard on protected routes and the data those routes return.

* ``guard``: a verified payer JWT (Bearer or session cookie) becomes a ``PayerPrincipal``
* ``data``: the payer's resources, shared by the GET routes and bootstrap
"""
