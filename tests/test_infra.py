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
