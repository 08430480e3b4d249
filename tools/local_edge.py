"""The edge, locally: API Management's policies (``shared.web.edge``'s rules) and the function key it sends."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

from shared.web import edge
from tools.functions_host import FUNCTION_KEY_HEADER, Platform, RawRequest, RawResponse, Route, decoded_path
from tools.kestrel import Answer


def function_key(local_dir: Path) -> str:
    """The local function key (Azure keeps them in the host's secrets; APIM sends one): made once."""
    path = local_dir / "function-key"
    if not path.exists() or not path.read_text().strip():
        local_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


class LocalEdge:
    """``shared.web.edge``'s rules around an upstream host, and the function key API Management sends.

    On ``core-tools`` there is no APIM in front of ``func start``: preflights and requests pass as sent,
    and only the cookie rule applies (without ``Partitioned`` the browser drops the cookie).
    """

    def __init__(
        self,
        upstream: Answer,
        routes: list[Route],
        *,
        platform: Platform,
        key: str,
        cookie_name: str,
        development: bool,
    ) -> None:
        self.upstream = upstream
        self.cors_routes = [r for r in routes if r.methods is not None and "OPTIONS" in r.methods]
        self.platform = platform
        self.key = key
        self.cookie_name = cookie_name
        self.development = development

    def handle(self, request: RawRequest) -> RawResponse:
        if self.platform == "flex":
            if edge.is_preflight(request.method, request.headers) and self.is_cors_route(request.target):
                answer = edge.preflight(request.headers, development=self.development)
                return RawResponse(answer.status, list(answer.headers), answer.body)
            request = request.with_header(FUNCTION_KEY_HEADER, self.key)
        response = self.upstream(request)
        response.headers = edge.response_headers(response.headers, self.cookie_name)
        return response

    def is_cors_route(self, target: str) -> bool:
        path = decoded_path(urlsplit(target).path).lstrip("/")
        return any(r.pattern.fullmatch(path) for r in self.cors_routes)
