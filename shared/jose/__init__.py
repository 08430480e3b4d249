"""Signing and verifying JWS with PyJWT, and the keys they use.

* ``jws``: the pre-check every token passes before PyJWT sees it (size, header, algorithm)
* ``verify``: verifying a JWT against a kind's ``TokenRules`` (PyJWT for the signature, our claim rules)
* ``keys``: key sources, the ``KeyRing`` (which key signs, which verify, what is published), ``KeySet``
* ``certificates``: the two formats of a Key Vault certificate secret (PKCS#12, PEM), both ways
"""
