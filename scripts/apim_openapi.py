"""Write infra/apim/openapi.json: openapi.yaml as API Management imports it.

    python scripts/apim_openapi.py          # regenerate (tests/test_infra.py checks it is current)

API Management does not support these OpenAPI 3 component kinds (Learn: "API import restrictions and known
issues", OpenAPI version 3.x, Unsupported): responses, parameters, examples, requestBodies, headers,
securitySchemes, links, callbacks; nor `externalDocs`, operation `security`/`servers`/`callbacks`, or the
parameter fields `allowEmptyValue`, `style`, `explode`, `allowReserved`. openapi.yaml keeps its shared
responses and parameters for people and for schemathesis; this copy has every such $ref written out in place
and the unsupported fields removed. Schemas stay components (they are supported).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "openapi.yaml"
TARGET = ROOT / "infra" / "apim" / "openapi.json"
INLINED = ("responses", "parameters", "examples", "requestBodies", "headers")
DROPPED_COMPONENTS = (*INLINED, "securitySchemes", "links", "callbacks")
DROPPED_OPERATION_FIELDS = ("externalDocs", "security", "servers", "callbacks")
DROPPED_PARAMETER_FIELDS = ("allowEmptyValue", "style", "explode", "allowReserved")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def for_api_management(document: dict[str, Any]) -> dict[str, Any]:
    components = document.get("components", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                kind, name = ref.removeprefix("#/components/").split("/", 1)
                if kind in INLINED:
                    return inline(components[kind][name])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    flat = {key: inline(value) for key, value in document.items() if key not in ("components", "externalDocs")}
    flat["components"] = {k: v for k, v in components.items() if k not in DROPPED_COMPONENTS}
    for item in flat.get("paths", {}).values():
        item.pop("servers", None)
        operations = [item[method] for method in METHODS if method in item]
        for operation in operations:
            for field in DROPPED_OPERATION_FIELDS:
                operation.pop(field, None)
        for parameter in [*item.get("parameters", []), *(p for o in operations for p in o.get("parameters", []))]:
            for field in DROPPED_PARAMETER_FIELDS:
                parameter.pop(field, None)
    return flat


def render() -> str:
    return json.dumps(for_api_management(yaml.safe_load(SOURCE.read_text())), indent=1, sort_keys=False) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
