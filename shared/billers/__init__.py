"""Billers: who they are, the token exchange, their token administration and the portal's guard.

* ``directory``: the Master DB and the shards (biller GUID -> BillerID, biller JWT rows), cached
* ``exchange``: biller JWT in (authenticated), payer JWT out (issued)
* ``admin``: minting, revoking and listing biller JWTs
* ``portal``: the Biller Portal's portal-JWT guard for the admin API
"""
