"""Where signing keys and tenant secrets come from.

* ``local``: development certificates under ``.local/``
* ``keyvault``: a Key Vault certificate's versions, read with managed identity; error classification
* ``secret_store``: named HS256 tenant secrets (local files or Key Vault)
"""
