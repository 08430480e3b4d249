"""The stable reasons: public, so listed once, here.

A refusal names its reason in the problem ``type`` and the OAuth ``error_uri``
(``.../problems/origin-mismatch``: ``-`` for ``_``) and on the login page as its
error code.  ``openapi.yaml`` (``components.schemas.Reason``) and ``docs/api.md``
list the same set; ``tests/test_reasons.py`` keeps the three equal.

A token's refusals are ``<kind>_<what>`` (``biller_token_expired``): each
verified kind's prefix (``shared.tokens``) with each of ``TOKEN_REFUSALS``.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    AUTHORIZATION_MALFORMED = "authorization_malformed"
    BILLER_GUID_INVALID = "biller_guid_invalid"
    BILLER_INACTIVE = "biller_inactive"
    BILLER_UNKNOWN = "biller_unknown"
    BODY_TOO_LARGE = "body_too_large"
    CHARSET_UNSUPPORTED = "charset_unsupported"
    CLAIMS_INVALID = "claims_invalid"
    CONFIGURATION_ERROR = "configuration_error"
    CONTENT_TYPE_UNSUPPORTED = "content_type_unsupported"
    CREDENTIAL_MISSING = "credential_missing"
    DATABASE_UNAVAILABLE = "database_unavailable"
    DOMAIN_INVALID = "domain_invalid"
    DOMAIN_MISSING = "domain_missing"
    DOMAIN_PUBLIC_SUFFIX = "domain_public_suffix"
    FIELD_DUPLICATED = "field_duplicated"
    FIELD_NOT_STRING = "field_not_string"
    FORM_MALFORMED = "form_malformed"
    GRANT_TYPE_MISSING = "grant_type_missing"
    GRANT_TYPE_UNSUPPORTED = "grant_type_unsupported"
    HOST_INVALID = "host_invalid"
    IDENTITY_REFUSED = "identity_refused"
    INTERNAL_ERROR = "internal_error"
    JSON_MALFORMED = "json_malformed"
    JTI_INACTIVE = "jti_inactive"
    JTI_INVALID = "jti_invalid"
    JTI_MISMATCH = "jti_mismatch"
    JTI_UNKNOWN = "jti_unknown"
    KEY_STORE_UNAVAILABLE = "key_store_unavailable"
    KEYVAULT_DOWN = "keyvault_down"
    KEYVAULT_ERROR = "keyvault_error"
    KEYVAULT_FORBIDDEN = "keyvault_forbidden"
    NOT_FOUND = "not_found"
    ORIGIN_INVALID = "origin_invalid"
    ORIGIN_MISMATCH = "origin_mismatch"
    ORIGIN_MISSING = "origin_missing"
    ORIGIN_NOT_HTTPS = "origin_not_https"
    ORIGIN_NULL = "origin_null"
    PAYER_ORIGIN_MISMATCH = "payer_origin_mismatch"
    PORTAL_BILLER_MISMATCH = "portal_biller_mismatch"
    PORTAL_USERTYPE_FORBIDDEN = "portal_usertype_forbidden"
    RESOURCE_UNKNOWN = "resource_unknown"
    SECRET_NOT_FOUND = "secret_not_found"
    SUBJECT_TOKEN_MISSING = "subject_token_missing"
    SUBJECT_TOKEN_TYPE_INVALID = "subject_token_type_invalid"
    TENANT_EMAIL_INVALID = "tenant_email_invalid"
    TENANT_JWKS_UNAVAILABLE = "tenant_jwks_unavailable"
    TENANT_MOBILE_INVALID = "tenant_mobile_invalid"
    TENANT_TOKEN_DUPLICATED = "tenant_token_duplicated"
    TENANT_TOKEN_MISSING = "tenant_token_missing"
    TENANT_TOKEN_REPLAYED = "tenant_token_replayed"
    TENANT_TOKEN_TOO_LONG_LIVED = "tenant_token_too_long_lived"
    TENANT_UNREGISTERED = "tenant_unregistered"
    TENANT_USER_INVALID = "tenant_user_invalid"
    TENANT_USER_MISSING = "tenant_user_missing"
    TOKEN_DELIVERY_INVALID = "token_delivery_invalid"


TOKEN_PREFIXES = ("biller_token", "payer_token", "portal_token", "tenant_token")
TOKEN_REFUSALS = (
    "too_large",
    "malformed",
    "crit_unsupported",
    "alg_not_allowed",
    "typ_not_allowed",
    "key_untrusted",
    "signature_invalid",
    "claim_missing",
    "claim_invalid",
    "iss_mismatch",
    "aud_mismatch",
    "usertype_mismatch",
    "expired",
    "not_yet_valid",
    "issued_in_future",
)


def catalogue() -> list[str]:
    """Every stable reason, sorted."""
    tokens = [f"{prefix}_{what}" for prefix in TOKEN_PREFIXES for what in TOKEN_REFUSALS]
    return sorted({*Reason, *tokens})
