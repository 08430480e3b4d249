"""What can be checked of infra/ on a machine with no Azure tooling."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

INFRA = Path(__file__).resolve().parent.parent / "infra"


def test_the_apim_cookie_fragment_is_well_formed_and_rewrites_only_our_session_cookie() -> None:
    root = ET.parse(INFRA / "apim" / "session-cookie-outbound.xml").getroot()
    assert root.tag == "fragment"
    when = root.find("choose/when")
    assert when is not None and "__Host-payer_session=" in when.attrib["condition"]
    header = when.find("set-header")
    assert header is not None and header.attrib == {"name": "Set-Cookie", "exists-action": "override"}
    assert "; Partitioned" in (header.findtext("value") or "")


ROOT = INFRA.parent
PLATFORM_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "AzureWebJobsStorage__accountName",
                     "AzureWebJobsStorage__credential", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"}


def settings_read_by_code() -> set[str]:
    import re

    source = (ROOT / "shared" / "settings.py").read_text()
    names = {f"PAYERAUTH_{n}" for n in re.findall(r'self\.(?:get|raw)\(\s*"([A-Z_]+)"', source)}
    return names | {"APPLICATIONINSIGHTS_CONNECTION_STRING"}  # shared/telemetry.py


def bicep_app_settings() -> set[str]:
    import re

    return set(re.findall(r"\{ name: '([A-Za-z_]+)', value:", (INFRA / "modules" / "function-app.bicep").read_text()))


def example_settings() -> set[str]:
    import json

    return set(json.loads((ROOT / "local.settings.json.example").read_text())["Values"])


def test_every_setting_the_code_reads_is_provisioned_and_in_the_example_and_the_reverse() -> None:
    code = settings_read_by_code()
    assert len(code) > 30
    assert bicep_app_settings() - PLATFORM_SETTINGS == code
    assert example_settings() - PLATFORM_SETTINGS == code


def policy(name: str) -> ET.Element:
    return ET.parse(INFRA / "apim" / name).getroot()


def test_policies_are_well_formed_and_leave_cors_to_the_functions() -> None:
    for path in (INFRA / "apim").glob("*.xml"):
        root = ET.parse(path).getroot()
        assert root.tag in ("policies", "fragment")
        assert root.find(".//cors") is None, path.name
    api = policy("api-policy.xml")
    assert api.find("inbound/set-backend-service").attrib["backend-id"] == "payer-auth-functions"  # type: ignore[union-attr]
    assert api.find("outbound/include-fragment").attrib["fragment-id"] == "payer-session-cookie"  # type: ignore[union-attr]
    limit = policy("exchange-operation.xml").find("inbound/rate-limit-by-key")
    assert limit is not None and "IpAddress" in limit.attrib["counter-key"]


def test_protected_operations_validate_the_payer_jwt_from_cookie_or_header_and_limit_per_session() -> None:
    inbound = policy("protected-operation.xml").find("inbound")
    assert inbound is not None
    jwt = inbound.find("validate-jwt")
    assert jwt is not None and jwt.attrib["failed-validation-httpcode"] == "401"
    assert "Authorization" in jwt.attrib["token-value"] and "__Host-payer_session=" in jwt.attrib["token-value"]
    assert "FirstOrDefault" in jwt.attrib["token-value"]
    assert jwt.find("openid-config").attrib["url"] == "{{payer-openid-config}}"  # type: ignore[union-attr]
    assert jwt.findtext("issuers/issuer") == "{{payer-issuer}}"
    assert jwt.findtext("audiences/audience") == "{{payer-audience}}"
    limit = inbound.find("rate-limit-by-key")
    assert limit is not None and '"sid"' in limit.attrib["counter-key"].replace("&quot;", '"')


def test_templates_reference_files_that_exist_and_operations_the_openapi_document_has() -> None:
    import re

    import yaml

    operation_ids = {op["operationId"] for item in yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"].values()
                     for key, op in item.items() if isinstance(op, dict) and "operationId" in op}
    for bicep in [*INFRA.glob("*.bicep"), *INFRA.glob("modules/*.bicep")]:
        text = bicep.read_text()
        for ref in re.findall(r"(?:module \w+ |load(?:Text|Json)Content\()'([^']+)'", text):
            assert (bicep.parent / ref).exists(), f"{bicep.name} refers to missing {ref}"
        for group in re.findall(r"\[for (?:\(op, i\)|op) in \[([^\]]+)\]", text):
            assert set(re.findall(r"'(\w+)'", group)) <= operation_ids
        for name in re.findall(r"operations@[\w-]+' existing = \{\s+parent: api\s+name: '(\w+)'", text):
            assert name in operation_ids
    for params in INFRA.glob("env/*.bicepparam"):
        assert "using '../main.bicep'" in params.read_text()


def test_no_secret_is_in_a_template_or_parameter_file() -> None:
    import re

    for path in [*INFRA.rglob("*.bicep"), *INFRA.rglob("*.bicepparam"), *INFRA.rglob("*.json"), ROOT / "azure.yaml"]:
        text = path.read_text()
        assert not re.search(r"(?i)(password|pwd=|accountkey=|instrumentationkey=|sharedaccesskey|clientsecret)",
                             text), path


def test_azd_service_matches_the_function_apps_tag() -> None:
    import yaml

    services = yaml.safe_load((ROOT / "azure.yaml").read_text())["services"]
    assert services == {"api": {"project": ".", "language": "python", "host": "function"}}
    assert "'azd-service-name': 'api'" in (INFRA / "modules" / "function-app.bicep").read_text()
