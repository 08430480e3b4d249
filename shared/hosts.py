"""Host names and addresses every layer agrees on; a leaf (``ipaddress`` only), so the settings read at
function indexing need not load the origin rules and IDNA."""

from __future__ import annotations

import ipaddress

# Loopback host names, as urlsplit gives them ("::1") and as origins are written ("[::1]").
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
# The instance metadata services (Azure IMDS and the other clouds' at 169.254.169.254, AWS's IPv6 one)
# and Azure's host address: never a place for a tenant's JWKS.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "168.63.129.16"))
