"""The payer's data, by resource name: one handler per resource, shared by its protected GET route
and by the one-round-trip bootstrap, which calls it in-process with the new principal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.billers.directory import BillerDirectory
from shared.errors import InvalidRequest, NotFound
from shared.payers.guard import PayerPrincipal
from shared.reasons import Reason

ResourceHandler = Callable[[PayerPrincipal], dict[str, Any]]


class Resources:
    def __init__(self, directory: BillerDirectory) -> None:
        self.directory = directory
        self.handlers: dict[str, ResourceHandler] = {"profile": self.profile}

    def profile(self, principal: PayerPrincipal) -> dict[str, Any]:
        """The biller's public profile: nothing internal (no BillerID, no shard)."""
        biller = self.directory.biller(principal.biller_guid)
        if biller is None:
            raise NotFound("the biller of this session no longer exists", reason=Reason.BILLER_UNKNOWN)
        return {
            "billerGuid": biller.guid,
            "displayName": biller.display_name,
            "domain": biller.domain,
            "status": biller.status,
        }

    def parse(self, requested: str | None) -> list[str]:
        names = [n.strip() for n in (requested or "profile").split(",") if n.strip()]
        unknown = [n for n in names if n not in self.handlers]
        if unknown or not names:
            shown = ", ".join(repr(n[:32]) for n in unknown[:3]) or "none"
            raise InvalidRequest(
                f"unknown resource {shown}; known resources: {', '.join(sorted(self.handlers))}",
                reason=Reason.RESOURCE_UNKNOWN,
            )
        return list(dict.fromkeys(names))

    def fetch(self, names: list[str], principal: PayerPrincipal) -> dict[str, Any]:
        return {name: self.handlers[name](principal) for name in names}
