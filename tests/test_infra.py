"""What can be checked of infra/ on a machine with no Azure tooling.

Each rule is the one Azure's documentation states (the page is named beside the rule here and
in the Bicep or docs/deploy.md), not our own assumption. Every .bicep file is parsed by a real
Bicep parser (pycep-parser), so a syntax slip fails here; `az bicep build` remains the
pre-flight before a deployment (docs/deploy.md).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from shared.settings import Settings
from shared.web import cors
from shared.web.responses import PROBLEM_BASE

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
APIM = INFRA / "apim"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
FAMILIES = ("exchange", "bootstrap", "login", "session")


@cache
def bicep(path: Path) -> dict[str, Any]:
    return dict(BicepParser().parse(text=path.read_text()))


def resources(path: Path, type_: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in bicep(path)["resources"].items() if r["type"] == type_}


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's body; a `[for ...]` loop nests it one level deeper."""
    config: dict[str, Any] = declaration["config"]
    return config["config"] if "loop_type" in config else config


def module(path: Path, name: str) -> dict[str, Any]:
    return body(bicep(path)["modules"][name])


def object_variable(path: Path, name: str) -> dict[str, Any]:
    """An object variable, its keys unquoted ('payer-session-cookie' -> payer-session-cookie)."""
    return {key.strip("'"): value for key, value in bicep(path)["variables"][name]["value"].items()}


def loaded_file(value: Any) -> str | None:
    """The path of a loadTextContent('...') value, as pycep reports it."""
    if isinstance(value, dict) and value.get("function", {}).get("type") == "load_text_content":
        return str(value["function"]["parameters"]["file_path"])
    return None


def policy(name: str) -> ET.Element:
    return ET.parse(APIM / name).getroot()


def operation_ids() -> list[str]:
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return [
        op["operationId"]
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]


# --- Bicep syntax -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    assert bicep(path)["resources"] or bicep(path)["parameters"]


def test_the_parser_rejects_a_syntax_slip() -> None:
    with pytest.raises(Exception, match=r"(?i)unexpected"):
        BicepParser().parse(text="resource a 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'a'\n")


def test_templates_refer_to_files_that_exist() -> None:
    for path in BICEP_FILES:
        text = path.read_text()
        for ref in re.findall(r"(?:module \w+ |load(?:Text|Json)Content\()'([^']+)'", text):
            assert (path.parent / ref).exists(), f"{path.name} refers to missing {ref}"
    for params in INFRA.glob("env/*.bicepparam"):
        assert "using '../main.bicep'" in params.read_text()


# --- Item 1: operation names ------------------------------------------------------------------


def apim_operation_name(operation_id: str) -> str:
    """Learn, "API import restrictions and known issues", normalization rules for operationId:
    lower case; each run of non-alphanumeric characters becomes one dash; dashes trimmed on both
    sides; truncated to 76 characters."""
    return re.sub(r"[^a-z0-9]+", "-", operation_id.lower()).strip("-")[:76]


def test_the_documented_operation_name_rule() -> None:
    assert apim_operation_name("payer_token") == "payer-token"
    assert apim_operation_name("GET-/foo/{bar}?buzz={quix}") == "get-foo-bar-buzz-quix"  # Learn's example


def test_operation_policies_name_the_operations_api_management_creates_from_openapi() -> None:
    created = {apim_operation_name(op) for op in operation_ids()}
    phase2 = INFRA / "phase2.bicep"
    listed = [item["operation"] for item in bicep(phase2)["variables"]["operationPolicies"]["value"]]
    existing = [
        body(r)["name"]
        for r in resources(phase2, "Microsoft.ApiManagement/service/apis/operations").values()
        if isinstance(body(r)["name"], str) and body(r)["name"] != "item.operation"
    ]
    assert set(listed) | set(existing) <= created
    assert {"payer-token", "payer-bootstrap", "tenant-login", "tenant-login-form", "payer-profile"} <= set(
        listed
    ) | set(existing)
    assert not any("_" in name for name in [*listed, *existing])


# --- Item 2: policy format agrees with the content ----------------------------------------------


def test_every_policy_and_fragment_format_agrees_with_its_content() -> None:
    """'xml': the content is an XML document and its entities are decoded; 'rawxml': sent as is, so
    it must hold no entity (an &quot; would reach the C# expression). bicep-types-az
    PolicyContractProperties / PolicyFragmentContractProperties.format."""
    checked: set[str] = set()
    for path in BICEP_FILES:
        variables = bicep(path).get("variables", {})
        for r in bicep(path)["resources"].values():
            if not r["type"].startswith("Microsoft.ApiManagement/") or not r["type"].endswith(
                ("/policies", "/policyFragments")
            ):
                continue
            props = body(r)["properties"]
            files = (
                [loaded_file(props["value"])]
                if loaded_file(props["value"])
                else [
                    loaded_file(v)
                    for var in variables.values()
                    if isinstance(var["value"], dict)
                    for v in var["value"].values()
                    if loaded_file(v)
                ]
            )
            assert files, f"{path.name}: {r['type']} value is not loaded from infra/apim/"
            for file in files:
                content = (path.parent / str(file)).read_text()
                if props["format"] == "xml":
                    ET.fromstring(content)  # raises if the file is not well-formed XML
                else:
                    assert props["format"] == "rawxml" and not re.search(r"&\w+;", content), file
                checked.add(Path(str(file)).name)
    assert checked == {p.name for p in APIM.glob("*.xml")}  # every policy file is deployed, and checked


def test_every_apim_file_is_well_formed_and_none_uses_a_cors_policy() -> None:
    for path in APIM.glob("*.xml"):
        root = ET.parse(path).getroot()
        assert root.tag in ("policies", "fragment")
        assert root.find(".//cors") is None, path.name  # it would override the functions' decision


# --- Item 3: validate-jwt in a second phase after the code is deployed ---------------------------


def test_validate_jwt_is_applied_only_by_the_second_phase() -> None:
    jwt_files = {p.name for p in APIM.glob("*.xml") if policy(p.name).find(".//validate-jwt") is not None}
    assert jwt_files == {"protected-operation.xml"}
    for path in BICEP_FILES:
        loads = "protected-operation.xml" in path.read_text()
        assert loads == (path.name == "phase2.bicep"), path


def test_azd_runs_the_second_phase_from_a_top_level_postdeploy_hook() -> None:
    """Learn, "Customize your Azure Developer CLI workflows using command and event hooks"."""
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert project["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    hook = project["hooks"]["postdeploy"]
    script = ROOT / hook["run"]
    assert script.exists() and script.stat().st_mode & 0o111
    text = script.read_text()
    assert "phase2.bicep" in text and "az deployment group create" in text
    assert "api/health" in text  # waits for the deployed code before saving validate-jwt
    assert "'azd-service-name': 'api'" in (INFRA / "modules" / "function-app.bicep").read_text()


def test_the_second_phase_saves_validate_jwt_after_the_backend_and_api_policy_that_serve_discovery() -> None:
    phase2 = bicep(INFRA / "phase2.bicep")["resources"]
    assert "apiPolicy" in phase2["profilePolicy"]["config"]["dependsOn"]
    assert "backend" in phase2["apiPolicy"]["config"]["dependsOn"]
    named = bicep(INFRA / "modules" / "apim.bicep")["resources"]["openIdConfig"]["config"]["properties"]["value"]
    assert "gatewayUrl" in json.dumps(named)  # the azure-api.net host: no DNS needed to save it


# --- Item 4: plain SQL settings -------------------------------------------------------------------


def app_settings() -> dict[str, Any]:
    site = bicep(INFRA / "modules" / "function-app.bicep")["resources"]["site"]["config"]
    return {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}


def test_sql_settings_are_plain_parameters_and_no_key_vault_reference_remains() -> None:
    for path in BICEP_FILES:
        assert "@Microsoft.KeyVault(" not in path.read_text(), path
    settings = app_settings()
    assert "masterDb" in json.dumps(settings["PAYERAUTH_MASTER_DB"])
    assert "shardDbs" in json.dumps(settings["PAYERAUTH_SHARD_DBS"])
    assert "sqlAccessToken" in json.dumps(settings["PAYERAUTH_SQL_ACCESS_TOKEN"])


# --- Item 5: one Set-Cookie rule for several values ------------------------------------------------


def test_the_function_app_sets_no_affinity_cookie() -> None:
    site = bicep(INFRA / "modules" / "function-app.bicep")["resources"]["site"]["config"]
    assert site["properties"]["clientAffinityEnabled"] is False


def test_the_cookie_rule_reads_each_set_cookie_value_and_rewrites_only_our_session_cookie() -> None:
    root = policy("session-cookie-outbound.xml")
    outer = root.find("choose/when")
    assert outer is not None
    condition = outer.attrib["condition"]
    assert 'Headers["Set-Cookie"]' in condition and "{{payer-cookie-name}}=" in condition
    rewrite = outer.find("set-variable")
    assert rewrite is not None
    code = rewrite.attrib["value"]
    # Each value on its own: GetValueOrDefault would join several Set-Cookie values with commas.
    assert 'GetValueOrDefault("Set-Cookie"' not in ET.tostring(root, encoding="unicode").replace("&quot;", '"')
    assert 'foreach (var cookie in context.Response.Headers["Set-Cookie"])' in code
    assert "result.Add(cookie); continue;" in code  # other cookies untouched
    assert '"domain"' in code and "value.Length == 0" in code  # an empty domain= goes
    assert 'kept.Add("Partitioned")' in code and '"partitioned"' in code  # added once
    branches = outer.findall("choose/when")
    for count, branch in enumerate(branches, start=1):
        assert f".Length == {count}" in branch.attrib["condition"]
        header = branch.find("set-header")
        assert header is not None and header.attrib == {"name": "Set-Cookie", "exists-action": "override"}
        values = [v.text or "" for v in header.findall("value")]
        expected = "@(((string)context.Variables[\"payerSetCookies\"]).Split('\\n')[{}])"
        assert values == [expected.format(i) for i in range(count)]
    assert len(branches) >= 3


def test_the_api_policy_applies_the_cookie_rule_on_the_way_out() -> None:
    api = policy("api-policy.xml")
    assert api.find("outbound/include-fragment").attrib["fragment-id"] == "payer-session-cookie"  # type: ignore[union-attr]
    fragments = object_variable(INFRA / "modules" / "apim.bicep", "fragments")
    assert loaded_file(fragments["payer-session-cookie"]) == "../apim/session-cookie-outbound.xml"


def test_the_cookie_name_has_one_source_for_the_app_and_api_management() -> None:
    assert "cookieName" in json.dumps(app_settings()["PAYERAUTH_COOKIE_NAME"])
    named = bicep(INFRA / "modules" / "apim.bicep")["resources"]["cookie"]["config"]
    assert named["name"] == "payer-cookie-name" and "cookieName" in json.dumps(named["properties"]["value"])
    assert bicep(INFRA / "main.bicep")["parameters"]["cookieName"]["default"] == Settings().cookie_name


# --- Item 6: only API Management reaches the functions ----------------------------------------------


def test_api_management_sends_the_function_key_from_a_secret_named_value() -> None:
    """Learn, "Import an Azure Function App as an API in Azure API Management", Authorization."""
    phase2 = bicep(INFRA / "phase2.bicep")["resources"]
    key = phase2["functionsKey"]["config"]
    assert key["name"] == "functions-key" and key["properties"]["secret"] is True
    assert '"func_name": "listKeys"' in json.dumps(key["properties"]["value"])
    assert "/host/default" in json.dumps(key["properties"]["value"])
    backend = phase2["backend"]["config"]
    assert backend["properties"]["credentials"]["header"] == {"'x-functions-key'": ["{{functions-key}}"]}
    routed = policy("api-policy.xml").find("inbound/set-backend-service")
    assert routed is not None and routed.attrib["backend-id"] == backend["name"]


def test_every_function_but_health_requires_the_function_key() -> None:
    source = (ROOT / "function_app.py").read_text()
    if "AuthLevel.FUNCTION" not in source:
        pytest.skip("function_app.py declares AuthLevel.FUNCTION with the local host change (issue 13)")
    default = "FUNCTION" if re.search(r"http_auth_level=func\.AuthLevel\.FUNCTION", source) else "ANONYMOUS"
    routes = re.findall(r"@app\.route\(([^)]*)\)", source)
    assert len(routes) > 5
    for route in routes:
        declared = re.search(r"auth_level=func\.AuthLevel\.(\w+)", route)
        level = declared.group(1) if declared else default
        assert level == ("ANONYMOUS" if 'route="api/health"' in route else "FUNCTION"), route


# --- Item 7: one public host --------------------------------------------------------------------------


def test_issuer_discovery_and_jwks_live_under_one_public_host() -> None:
    main = bicep(INFRA / "main.bicep")
    assert "payerIssuer" not in main["parameters"]
    app = module(INFRA / "main.bicep", "functionApp")["params"]
    assert app["publicBaseUrl"] == app["payerIssuer"] == "publicBaseUrl"
    assert module(INFRA / "main.bicep", "apim")["params"]["payerIssuer"] == "publicBaseUrl"
    text = (INFRA / "main.bicep").read_text()
    assert "var publicBaseUrl = hasCustomDomain ? 'https://${customDomain}' : gatewayUrl" in text


def test_the_custom_domain_certificate_is_read_by_a_user_assigned_identity_that_holds_its_role_first() -> None:
    assert "customDomainAccess" in module(INFRA / "main.bicep", "apim")["dependsOn"]
    text = (INFRA / "modules" / "apim.bicep").read_text()
    assert "type: 'SystemAssigned, UserAssigned'" in text
    assert "identityClientId: customDomainIdentityClientId" in text and "certificateSource: 'KeyVault'" in text
    identity = resources(
        INFRA / "modules" / "custom-domain-identity.bicep", "Microsoft.ManagedIdentity/userAssignedIdentities"
    )
    assert identity


# --- Item 8: azd and az give the same environment ---------------------------------------------------------


def test_main_parameters_json_passes_every_parameter_the_bicepparam_files_set() -> None:
    passed = set(json.loads((INFRA / "main.parameters.json").read_text())["parameters"])
    declared = bicep(INFRA / "main.bicep")["parameters"]
    required = {name for name, p in declared.items() if p["default"] is None}
    assert passed <= set(declared)
    assert required <= passed
    for path in INFRA.glob("env/*.bicepparam"):
        set_here = set(re.findall(r"^param (\w+) =", path.read_text(), re.MULTILINE))
        assert set_here <= passed, f"{path.name} sets {set_here - passed}, which azd would not pass"
        assert required <= set_here, path.name


def test_deploy_time_variables_have_their_own_prefix() -> None:
    """PAYERAUTH_* belongs to the app's settings (it warns about unknown ones); deploy-time
    variables are PAYERAUTH_DEPLOY_* or AZURE_* (SERVICE_<name>_URI is azd's own convention)."""
    names = set(re.findall(r"\$\{(\w+)", (INFRA / "main.parameters.json").read_text()))
    for path in INFRA.glob("env/*.bicepparam"):
        names |= set(re.findall(r"readEnvironmentVariable\('(\w+)'", path.read_text()))
    names |= set(
        bicep(INFRA / "main.bicep").get("outputs", {})
        or re.findall(r"^output (\w+) ", (INFRA / "main.bicep").read_text(), re.MULTILINE)
    )
    names |= set(re.findall(r"\$\{?(PAYERAUTH_\w+|AZURE_\w+)", (INFRA / "hooks" / "postdeploy.sh").read_text()))
    assert names
    for name in names:
        assert name.startswith(("PAYERAUTH_DEPLOY_", "AZURE_", "SERVICE_")), name


def test_service_api_uri_is_the_gateway() -> None:
    assert re.search(
        r"^output SERVICE_API_URI string = apim\.outputs\.gatewayUrl$", (INFRA / "main.bicep").read_text(), re.MULTILINE
    )


# --- Item 9: API Management's own refusals follow the contract ----------------------------------------------


def refusal(fragment: str, condition: str) -> ET.Element:
    for when in policy(fragment).findall("choose/when"):
        if condition in when.attrib["condition"]:
            found = when.find("return-response")
            assert found is not None
            return found
    raise AssertionError(f"{fragment} has no branch for {condition}")


def headers_of(response: ET.Element) -> dict[str, ET.Element]:
    return {h.attrib["name"]: h for h in response.findall("set-header")}


def test_a_failed_validate_jwt_answers_401_problem_json_with_www_authenticate() -> None:
    """Learn, "Error handling in API Management policies": validate-jwt failures reach on-error."""
    response = refusal("refusal-problem.xml", 'Source == "validate-jwt"')
    assert response.find("set-status").attrib["code"] == "401"  # type: ignore[union-attr]
    headers = headers_of(response)
    assert headers["Content-Type"].findtext("value") == "application/problem+json"
    assert (headers["WWW-Authenticate"].findtext("value") or "").startswith("Bearer ")
    body = response.findtext("set-body") or ""
    assert f'"{PROBLEM_BASE}' in body and '"status", 401' in body


@pytest.mark.parametrize(
    ("fragment", "media_type"),
    [
        ("refusal-oauth.xml", "application/json"),
        ("refusal-problem.xml", "application/problem+json"),
        ("refusal-login.xml", "text/html; charset=utf-8"),
    ],
)
def test_a_rate_limit_answers_429_with_retry_after_in_the_routes_error_style(fragment: str, media_type: str) -> None:
    response = refusal(fragment, 'Reason == "RateLimitExceeded"')
    assert response.find("set-status").attrib["code"] == "429"  # type: ignore[union-attr]
    headers = headers_of(response)
    assert headers["Content-Type"].findtext("value") == media_type
    assert "retryAfter" in (headers["Retry-After"].findtext("value") or "")
    body = response.findtext("set-body") or ""
    if fragment == "refusal-oauth.xml":
        document = json.loads(body)
        assert document["error"] == "temporarily_unavailable" and document["error_uri"].startswith(PROBLEM_BASE)
    elif fragment == "refusal-problem.xml":
        assert json.loads(body)["type"] == PROBLEM_BASE + "rate-limited"
    else:
        assert "<code>rate_limited</code>" in body and "frame-ancestors 'none'" in (
            headers["Content-Security-Policy"].findtext("value") or ""
        )


@pytest.mark.parametrize("fragment", ["refusal-oauth.xml", "refusal-problem.xml", "api-policy.xml"])
def test_api_managements_own_answers_grant_cors_only_to_a_grantable_origin(fragment: str) -> None:
    for response in policy(fragment).iter("return-response"):
        for header in response.findall("set-header"):
            if not header.attrib["name"].startswith("Access-Control-"):
                continue
            assert "grantableOrigin" in header.attrib["exists-action"], header.attrib["name"]
            assert '"delete"' in header.attrib["exists-action"]
        origin = headers_of(response).get("Access-Control-Allow-Origin")
        if origin is not None:
            assert "grantableOrigin" in (origin.findtext("value") or "")
            assert "Headers" not in (origin.findtext("value") or "")  # never the raw Origin header


def grantable_origin_pattern() -> re.Pattern[str]:
    code = policy("api-policy.xml").find("inbound/set-variable[@name='grantableOrigin']").attrib["value"]  # type: ignore[union-attr]
    found = re.search(r'@"(\^[^"]+\$)"', code)
    assert found is not None and "Regex.IsMatch(origin, serialized)" in code
    return re.compile(found.group(1))


@pytest.mark.parametrize(
    ("origin", "grantable"),
    [
        ("https://biller-site.com", True),
        ("https://pay.biller-site.com:8443", True),
        ("https://xn--bcher-kva.example", True),
        ("null", False),
        ("", False),
        ("https://a.example,https://b.example", False),  # two Origin headers, comma-joined by GetValueOrDefault
        ("https://a.example https://b.example", False),
        ("http://biller-site.com", False),
        ("https://biller-site.com/", False),
        ("https://user@biller-site.com", False),
        ("https://-bad.example", False),
    ],
)
def test_the_grantable_origin_rule_is_one_serialized_https_origin(origin: str, grantable: bool) -> None:
    assert bool(grantable_origin_pattern().fullmatch(origin)) is grantable


# --- Issue 13 item 1: API Management answers preflights ------------------------------------------------


def test_preflights_for_our_routes_are_answered_by_api_management() -> None:
    when = policy("api-policy.xml").find("inbound/choose/when")
    assert when is not None
    assert 'Method == "OPTIONS"' in when.attrib["condition"]
    assert 'ContainsKey("Access-Control-Request-Method")' in when.attrib["condition"]
    response = when.find("return-response")
    assert response is not None and response.find("set-status").attrib["code"] == "204"  # type: ignore[union-attr]
    headers = headers_of(response)
    assert headers["Access-Control-Allow-Credentials"].findtext("value") == "true"
    assert headers["Access-Control-Max-Age"].findtext("value") == str(cors.PREFLIGHT_MAX_AGE)
    assert "preflightMethod" in (headers["Access-Control-Allow-Methods"].findtext("value") or "")
    assert "preflightHeaders" in (headers["Access-Control-Allow-Headers"].findtext("value") or "")
    assert headers["Vary"].findtext("value") == "Origin"
    # The answer comes before the request is routed to the functions.
    inbound = [child.tag for child in policy("api-policy.xml").find("inbound")]  # type: ignore[union-attr]
    assert inbound.index("choose") < inbound.index("set-backend-service")


def test_the_preflight_grants_only_the_requested_method_and_headers_each_route_allows() -> None:
    variables = {
        v.attrib["name"]: v.attrib["value"]
        for v in policy("api-policy.xml").findall("inbound/choose/when/set-variable")
    }
    assert '"/payer/profile") ? "GET" : "POST"' in variables["preflightMethod"]
    assert 'requested == allowed ? allowed : ""' in variables["preflightMethod"]
    headers = variables["preflightHeaders"]
    assert '{ "authorization" } : new[] { "content-type" }' in headers and "allowed.Contains(h)" in headers
    preflighted = {op for op in operation_ids() if op.endswith("_preflight")}
    assert preflighted == {
        "payer_token_preflight",
        "payer_bootstrap_preflight",
        "payer_profile_preflight",
        "payer_logout_preflight",
    }


# --- Item 10: rate limits per purpose ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "family"),
    [
        ("exchange-operation.xml", "exchange"),
        ("bootstrap-operation.xml", "bootstrap"),
        ("login-operation.xml", "login"),
        ("protected-operation.xml", "session"),
    ],
)
def test_rate_limit_keys_are_prefixed_per_family_and_limits_are_parameters(file: str, family: str) -> None:
    """Learn, "Limit call rate by key": one counter per key value across all scopes."""
    limit = policy(file).find("inbound/rate-limit-by-key")
    assert limit is not None
    assert limit.attrib["counter-key"].startswith(f'@("{family}:" + ')
    assert limit.attrib["calls"] == f"{{{{rate-limit-{family}-calls}}}}"
    assert limit.attrib["retry-after-variable-name"] == "retryAfter"
    refusals = [f.attrib["fragment-id"] for f in policy(file).findall("on-error/include-fragment")]
    assert refusals and refusals[0].startswith("payer-refusal-")
    params = bicep(INFRA / "main.bicep")["parameters"]
    assert isinstance(params[f"rateLimit{family.capitalize()}"]["default"], int)


def test_each_family_has_a_named_value_fed_by_its_parameter() -> None:
    text = (INFRA / "modules" / "apim.bicep").read_text()
    assert "[for family in ['exchange', 'bootstrap', 'login', 'session']:" in text
    assert "name: 'rate-limit-${family}-calls'" in text and "value: string(rateLimits[family])" in text
    passed = module(INFRA / "main.bicep", "apim")["params"]["rateLimits"]
    assert set(passed) == set(FAMILIES)


# --- Item 11: OpenAPI import fidelity -------------------------------------------------------------------------


def test_required_query_parameters_stay_query_parameters() -> None:
    """Learn, "API import restrictions and known issues": translateRequiredQueryParameters."""
    api = bicep(INFRA / "modules" / "apim.bicep")["resources"]["api"]["config"]["properties"]
    assert api["translateRequiredQueryParameters"] == "query"
    assert loaded_file(api["value"]) == "../apim/openapi.json" and api["format"] == "openapi+json"


def test_api_management_imports_openapi_without_the_component_kinds_it_does_not_support() -> None:
    """Learn, "API import restrictions and known issues", OpenAPI 3.x Unsupported: Components responses,
    parameters, examples, requestBodies, headers, securitySchemes, links, callbacks (and a few fields)."""
    imported = json.loads((INFRA / "apim" / "openapi.json").read_text())
    assert set(imported["components"]) <= {"schemas"}
    refs = re.findall(r'"\$ref": "#/components/(\w+)/', json.dumps(imported))
    assert refs and set(refs) == {"schemas"}
    parameters = [
        p
        for item in imported["paths"].values()
        for p in [
            *item.get("parameters", []),
            *(q for op in item.values() if isinstance(op, dict) for q in op.get("parameters", [])),
        ]
    ]
    assert {"name": "billerGuid", "in": "path", "required": True, "schema": {"type": "string"}} in parameters
    assert not [p for p in parameters if {"style", "explode", "allowEmptyValue", "allowReserved"} & set(p)]


def test_the_imported_openapi_document_is_openapi_yaml_as_it_is_now() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("apim_openapi", ROOT / "scripts" / "apim_openapi.py")
    assert spec and spec.loader
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    current = (INFRA / "apim" / "openapi.json").read_text()
    assert current == generator.render(), "run: python scripts/apim_openapi.py"
    source = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    imported = json.loads(current)
    assert {(path, method) for path, item in source["paths"].items() for method in item} == {
        (path, method) for path, item in imported["paths"].items() for method in item
    }


# --- Item 12: do not overwrite IC's procedure ---------------------------------------------------------------


def test_the_t_sql_we_own_never_creates_or_alters_ics_objects() -> None:
    sql = INFRA / "sql" / "sqlserver"
    for name in ("master.sql", "shard.sql"):
        text = sql.joinpath(name).read_text()
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        assert not re.search(r"(?i)\b(create|alter)\b[^;]*\b(selAzureBillers|AzureBillers)\b", code), name
        assert not re.search(r"(?i)\bdrop\b", code), name
        tables = re.findall(r"(?i)create table (dbo\.\w+)", code)
        guarded = re.findall(r"(?i)if object_id\(n'(dbo\.\w+)', n'u'\) is null\s+create table", code)
        assert tables == guarded, name
    standins = sql.joinpath("dev-ic-standins.sql").read_text()
    assert standins.startswith("-- DEVELOPMENT ONLY.")
    assert "CREATE OR ALTER PROCEDURE dbo.selAzureBillers" in standins


# --- Item 13: least privilege for keys -------------------------------------------------------------------------


def test_the_app_reads_named_secrets_of_the_ic_vault_and_a_vault_of_its_own() -> None:
    """Learn, "Provide access to Key Vault keys, certificates, and secrets with Azure RBAC"."""
    access = bicep(INFRA / "modules" / "keyvault-access.bicep")["resources"]
    scope = body(access["secretsUser"])["scope"]
    assert scope == {"operator": {"type": "index_accessor", "operands": {"operand_1": "secrets", "operand_2": "i"}}}
    assert access["secrets"]["type"] == "Microsoft.KeyVault/vaults/secrets"
    main = bicep(INFRA / "main.bicep")
    secret_names = json.dumps(module(INFRA / "main.bicep", "keyVaultAccess")["params"]["secretNames"])
    assert "icSecretName" in secret_names and "payerSecretName" in secret_names
    assert main["parameters"]["payerSecretName"]["default"] != main["parameters"]["icSecretName"]["default"]
    vault = bicep(INFRA / "modules" / "tenant-vault.bicep")["resources"]
    assert vault["vault"]["config"]["properties"]["enableRbacAuthorization"] is True
    assert vault["secretsUser"]["config"]["scope"] == "vault"
    settings = app_settings()
    assert "payerSecretName" in json.dumps(settings["PAYERAUTH_PAYER_SECRET_NAME"])
    assert "tenantSecretsVaultUri" in json.dumps(settings["PAYERAUTH_TENANT_SECRETS_VAULT_URL"])


def test_local_development_keeps_one_key() -> None:
    defaults = Settings()
    assert defaults.payer_secret_name == defaults.ic_secret_name
    assert Settings.from_env({}).payer_secret_name == Settings.from_env({}).ic_secret_name


# --- Also: diagnostics, always ready ----------------------------------------------------------------------------


def test_api_management_diagnostics_mask_the_token_query_parameter_and_cookies() -> None:
    (diagnostics,) = resources(INFRA / "modules" / "apim.bicep", "Microsoft.ApiManagement/service/diagnostics").values()
    props = diagnostics["config"]["properties"]
    assert props["loggerId"] == "logger.id" or "logger" in json.dumps(props["loggerId"])
    masks = object_variable(INFRA / "modules" / "apim.bicep", "masks")
    assert {"value": "token", "mode": "Mask"} in masks["queryParams"]
    assert {("Cookie", "Mask"), ("Set-Cookie", "Mask")} <= {(h["value"], h["mode"]) for h in masks["headers"]}
    message = object_variable(INFRA / "modules" / "apim.bicep", "quietMessage")
    assert message["dataMasking"] == "masks" and message["headers"] == []
    for side in ("frontend", "backend"):
        assert props[side] == {"request": "quietMessage", "response": "quietMessage"}


def test_always_ready_instances_are_a_parameter_for_the_http_group() -> None:
    """Learn, "Azure Functions Flex Consumption plan hosting": all HTTP functions scale as one group."""
    text = (INFRA / "modules" / "function-app.bicep").read_text()
    assert "name: 'http'" in text and "instanceCount: alwaysReadyHttpInstances" in text
    assert bicep(INFRA / "main.bicep")["parameters"]["alwaysReadyHttpInstances"]["default"] == 0
    assert re.search(
        r"^param alwaysReadyHttpInstances = [1-9]", (INFRA / "env" / "prod.bicepparam").read_text(), re.MULTILINE
    )


# --- Settings and secrets --------------------------------------------------------------------------------------------

PLATFORM_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}


def settings_read_by_code() -> set[str]:
    source = (ROOT / "shared" / "settings.py").read_text()
    names = {f"PAYERAUTH_{n}" for n in re.findall(r'self\.(?:get|raw)\(\s*"([A-Z_]+)"', source)}
    return names | {"APPLICATIONINSIGHTS_CONNECTION_STRING"}  # shared/telemetry.py


def test_every_setting_the_code_reads_is_provisioned_and_in_the_example_and_the_reverse() -> None:
    code = settings_read_by_code()
    assert len(code) > 30
    example = set(json.loads((ROOT / "local.settings.json.example").read_text())["Values"])
    assert set(app_settings()) - PLATFORM_SETTINGS == code
    assert example - PLATFORM_SETTINGS == code


def test_no_secret_is_in_a_template_or_parameter_file() -> None:
    for path in [*INFRA.rglob("*.bicep"), *INFRA.rglob("*.bicepparam"), *INFRA.rglob("*.json"), ROOT / "azure.yaml"]:
        text = path.read_text()
        assert not re.search(
            r"(?i)(password|pwd=|accountkey=|instrumentationkey=|sharedaccesskey|clientsecret)", text
        ), path


# --- The postdeploy hook, run with stand-ins for curl and az -------------------------------------------------------


def run_hook(tmp_path: Path, public_base_url: str, health_status: str = "200") -> tuple[int, str, list[str]]:
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "az-calls"
    (bin_dir / "curl").write_text(f"#!/bin/sh\nprintf '%s' '{health_status}'\n")
    (bin_dir / "az").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{calls}"\n')
    for tool in ("curl", "az"):
        (bin_dir / tool).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AZURE_RESOURCE_GROUP": "rg-payerauth-dev",
        "AZURE_FUNCTION_APP_NAME": "func-abc",
        "PAYERAUTH_DEPLOY_APIM_NAME": "apim-abc",
        "PAYERAUTH_DEPLOY_FUNCTION_HOST": "func-abc.azurewebsites.net",
        "AZURE_SUBSCRIPTION_ID": "sub-1",
        "PAYERAUTH_DEPLOY_PUBLIC_BASE_URL": public_base_url,
        "PAYERAUTH_DEPLOY_WAIT_ATTEMPTS": "1",
    }
    done = subprocess.run(
        ["sh", str(INFRA / "hooks" / "postdeploy.sh")], env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stderr, calls.read_text().splitlines() if calls.exists() else []


def test_the_hook_deploys_the_second_phase_once_the_code_answers(tmp_path: Path) -> None:
    code, _, calls = run_hook(tmp_path, "https://apim-abc.azure-api.net")
    assert code == 0
    (call,) = calls
    assert call.startswith("deployment group create --subscription sub-1 --resource-group rg-payerauth-dev")
    assert "phase2.bicep" in call and "apimName=apim-abc functionAppName=func-abc" in call


def test_the_hook_stops_before_saving_policies_when_the_code_is_not_there(tmp_path: Path) -> None:
    code, stderr, calls = run_hook(tmp_path, "https://apim-abc.azure-api.net", health_status="404")
    assert code == 1 and calls == []
    assert "is the code deployed" in stderr


def test_the_hook_waits_for_dns_of_the_custom_domain_that_jwks_uri_names(tmp_path: Path) -> None:
    code, stderr, calls = run_hook(tmp_path, "https://payer-auth.invalid")  # .invalid never resolves (RFC 6761)
    assert code == 1 and calls == []
    assert "payer-auth.invalid does not resolve" in stderr
