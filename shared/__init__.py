"""The framework-free core of Payer Auth (it knows nothing of azure.functions).

Top level, the leaves and the one-file ideas:

* ``app``: the composition root, ``PayerAuth.from_settings`` builds everything once; health
* ``settings``: the one typed ``Settings``, validated at start-up
* ``setting_values``: parsing and checking one setting's value
* ``errors``: the small error hierarchy every layer raises
* ``telemetry``: OpenTelemetry counters, masking of PII for logs
* ``iocounts``: per-process counts of database cursors and Key Vault calls
* ``http``: the framework-free ``Request`` and ``Response``
* ``reasons``: every stable reason, listed once
* ``hosts``: the loopback host names and the metadata addresses, a leaf the settings can import cheaply
* ``origins``: origins, domains and the one "https, or http on loopback in development" rule
* ``tokens``: every token kind in one table (algorithm, typ, usertype, rules, claims of the ones we mint)

Subpackages, from the bottom up: ``storage``, ``jose``, ``keystores``, ``tenants``, ``billers``,
``payers``; ``web`` sits on top of them all.  Each ``__init__`` maps its modules.
"""
