"""Local settings: ``local.settings.json``'s ``Values`` into the environment, as Core Tools does."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tools.functions_host import host_route_prefix as _route_prefix_in

ROOT = Path(__file__).resolve().parent.parent


def load_local_settings(path: Path = ROOT / "local.settings.json") -> None:
    """Put ``Values`` into the environment as Core Tools does (the real environment wins)."""
    if path.exists():
        values = json.loads(path.read_text()).get("Values", {})
        for name, value in values.items():
            os.environ.setdefault(name, str(value))


def host_route_prefix(path: Path = ROOT / "host.json") -> str:
    return _route_prefix_in(path)


def the_app() -> Any:
    load_local_settings()
    sys.path.insert(0, str(ROOT))
    import function_app

    return function_app
