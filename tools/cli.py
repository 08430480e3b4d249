"""payer-auth: set up and administer a Payer Auth environment from the command line.

    python -m tools.cli init                      # keys, databases, demo biller, a ready biller JWT
    python -m tools.cli biller add --name N --domain D [--guid G] [--shard S]
    python -m tools.cli biller list
    python -m tools.cli token mint --biller G [--domain D] [--expires-in S] [--claim k=v ...] [--no-record]
    python -m tools.cli token revoke --biller G JTI
    python -m tools.cli token list --biller G
    python -m tools.cli tenant add --id ISS --audience AUD --return-url URL --frame-ancestor ORIGIN
                                   (--pem-file F | --jwks-url U | --hs256-secret-file F | --hs256-secret-name N)
    python -m tools.cli tenant list | tenant remove ID
    python -m tools.cli tenant dev-add --id ISS [--audience AUD] [--return-url URL] [--frame-ancestor ORIGIN]
    python -m tools.cli tenant mint --id ISS (--email E | --mobile M | --user-id U) [--lifetime S]
                                   (development only: a tenant whose key is generated under .local/tenants/)
    python -m tools.cli keys rotate               # local keys: add a certificate version
    python -m tools.cli health                    # keys and databases in detail (api/health says ok only)

It reads the same settings as the app (environment, then local.settings.json).
A minted JWT goes to stdout alone; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any, Literal

from shared.app import PayerAuth
from shared.billers.directory import Actor
from shared.errors import PayerAuthError
from shared.keystores.local import LocalKeySource
from shared.settings import Settings, redact
from shared.storage.database import Database
from shared.storage.schema import create_schema
from tools.demo_site import DEMO_BILLER_GUID, DEMO_ORIGIN_DOMAIN
from tools.local_settings import load_local_settings

CLI_ACTOR = Actor(sub="cli")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    load_local_settings()
    try:
        service = PayerAuth.from_settings(Settings.from_env())
        result = args.run(service, args)
    except PayerAuthError as exc:
        print(f"error: {exc.description}", file=sys.stderr)
        return 1
    return int(result or 0)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="payer-auth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    groups = root.add_subparsers(required=True, metavar="command")

    init = groups.add_parser("init", help="create local keys, databases, the demo biller and a biller JWT")
    init.add_argument("--domain", default=DEMO_ORIGIN_DOMAIN, help="the demo biller's domain")
    init.add_argument("--quiet", action="store_true", help="print only the biller JWT")
    init.set_defaults(run=cmd_init)

    biller = groups.add_parser("biller", help="billers in the Master DB").add_subparsers(
        required=True, metavar="action"
    )
    add = biller.add_parser("add", help="add a biller")
    add.add_argument("--name", required=True)
    add.add_argument("--domain", required=True, help="host[:port] or *.host of the biller's site")
    add.add_argument("--guid", default=None, help="biller GUID (default: a new one)")
    add.add_argument("--shard", default=None, help="shard name (default: the first configured)")
    add.set_defaults(run=cmd_biller_add)
    biller.add_parser("list", help="list billers").set_defaults(run=cmd_biller_list)

    token = groups.add_parser("token", help="biller JWTs").add_subparsers(required=True, metavar="action")
    mint = token.add_parser("mint", help="mint a biller JWT, record it, print it on stdout")
    mint.add_argument("--biller", required=True, help="biller GUID")
    mint.add_argument("--domain", default=None, help="domain claim (default: the biller's domain)")
    mint.add_argument("--expires-in", type=int, default=None, help="seconds until exp (default: no exp)")
    mint.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set or override a claim; VALUE is JSON when it parses, else a string",
    )
    mint.add_argument("--no-record", action="store_true", help="do not record it in the shard (for tests)")
    mint.set_defaults(run=cmd_token_mint)
    revoke = token.add_parser("revoke", help="revoke a biller JWT by jti")
    revoke.add_argument("--biller", required=True, help="biller GUID")
    revoke.add_argument("jti")
    revoke.set_defaults(run=cmd_token_revoke)
    listing = token.add_parser("list", help="list a biller's JWTs (never their values)")
    listing.add_argument("--biller", required=True, help="biller GUID")
    listing.set_defaults(run=cmd_token_list)

    add_tenant_commands(groups)
    keys = groups.add_parser("keys", help="local development keys").add_subparsers(required=True, metavar="action")
    keys.add_parser("rotate", help="add a new local certificate version").set_defaults(run=cmd_keys_rotate)
    groups.add_parser("health", help="the keys and databases in detail; exit 1 when degraded").set_defaults(
        run=cmd_health
    )
    return root


def add_tenant_commands(groups: Any) -> None:
    tenant = groups.add_parser("tenant", help="seamless-login tenants").add_subparsers(required=True, metavar="action")
    tadd = tenant.add_parser("add", help="register a tenant (exactly one of --pem-file, --jwks-url, --hs256-secret-*)")
    tadd.add_argument("--id", required=True, help="the iss of the tenant's JWTs")
    tadd.add_argument("--audience", required=True, help="the aud the tenant's JWTs carry")
    tadd.add_argument("--return-url", required=True, help="where a successful login lands (exact)")
    tadd.add_argument(
        "--frame-ancestor",
        action="append",
        default=[],
        metavar="ORIGIN",
        required=True,
        help="an origin allowed to frame the login (repeat for several)",
    )
    source = tadd.add_mutually_exclusive_group(required=True)
    source.add_argument("--pem-file", type=Path, help="RS256: the tenant's PEM public key")
    source.add_argument("--jwks-url", help="RS256: the tenant's JWKS URL (https)")
    source.add_argument(
        "--hs256-secret-file",
        type=Path,
        help="HS256 locally: a file holding the base64 shared secret (stored under .local/secrets/)",
    )
    source.add_argument("--hs256-secret-name", help="HS256 in Azure: the Key Vault secret holding the base64 secret")
    tadd.set_defaults(run=cmd_tenant_add)
    tenant.add_parser("list", help="list tenants").set_defaults(run=cmd_tenant_list)
    tremove = tenant.add_parser("remove", help="remove a tenant")
    tremove.add_argument("id")
    tremove.set_defaults(run=cmd_tenant_remove)
    dev_add = tenant.add_parser("dev-add", help="development only: register a tenant with a key generated here")
    dev_add.add_argument("--id", required=True, help="the iss of the tenant's JWTs")
    dev_add.add_argument("--audience", default="payer-auth-dev", help="the aud its JWTs carry")
    dev_add.add_argument("--return-url", default=None, help="where a login lands (default: the demo page)")
    dev_add.add_argument(
        "--frame-ancestor",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an origin allowed to frame the login (default: the demo page's)",
    )
    dev_add.set_defaults(run=cmd_tenant_dev_add)
    tmint = tenant.add_parser("mint", help="development only: sign a tenant JWT with a dev-add tenant's key")
    tmint.add_argument("--id", required=True, help="the tenant's id (its iss)")
    tmint.add_argument("--email", default=None)
    tmint.add_argument("--mobile", default=None, help="E.164, e.g. +15551234567")
    tmint.add_argument("--user-id", default=None)
    tmint.add_argument("--lifetime", type=int, default=120, help="seconds until exp (default 120)")
    tmint.set_defaults(run=cmd_tenant_mint)


def cmd_init(service: PayerAuth, args: argparse.Namespace) -> int:
    s = service.settings
    kid = service.ic_keys.current().signer.kid
    init_schema(service.directory.master, "master")
    for shard in service.directory.shards.values():
        init_schema(shard, "shard")
    if service.directory.biller(DEMO_BILLER_GUID) is None:
        service.directory.add_biller(DEMO_BILLER_GUID, "Demo Biller", args.domain, next(iter(s.shard_dbs)))
    token = demo_biller_jwt(service, args.domain)
    if not args.quiet:
        say(f"keys: signing kid {kid} ({service.ic_keys.source.description})")
        say(f"databases: {redact(s.master_db)} + {len(s.shard_dbs)} shard(s)")
        say(f"demo biller {DEMO_BILLER_GUID}, domain {args.domain}")
        say("a biller JWT for it is on stdout; exchange it with:")
        say(exchange_curl(token, f"http://{args.domain}", s.public_base_url))
    print(token)
    return 0


def demo_biller_jwt(service: PayerAuth, domain: str) -> str:
    """The demo biller's JWT, kept under .local/ and reused while its row is active for this domain.

    Running init again (every `make run`) does not pile up biller JWTs: a kept one whose row is still
    active is reused; one for another domain is revoked before a new one is minted.
    """
    kept_file = service.settings.local_dir / "demo-biller-jwt.json"
    kept = json.loads(kept_file.read_text()) if kept_file.exists() else {}
    active = {r.jti for r in service.biller_tokens.list(DEMO_BILLER_GUID) if r.active}
    if kept.get("jti") in active:
        if kept.get("domain") == domain:
            return str(kept["token"])
        service.biller_tokens.revoke(DEMO_BILLER_GUID, kept["jti"], CLI_ACTOR)
    minted = service.biller_tokens.mint(DEMO_BILLER_GUID, domain, CLI_ACTOR)
    kept_file.write_text(json.dumps({"jti": minted.record.jti, "domain": domain, "token": minted.token}))
    kept_file.chmod(0o600)
    return minted.token


def exchange_curl(token: str, origin: str, base_url: str) -> str:
    return (
        f"  curl -i -X POST {base_url}/api/payer/token -H 'Origin: {origin}' \\\n"
        "    -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\\n"
        "    -d subject_token_type=urn:ietf:params:oauth:token-type:jwt \\\n"
        f"    -d subject_token={token}"
    )


def init_schema(database: Database, kind: Literal["master", "shard"]) -> None:
    if not create_schema(database, kind):
        say(f"{database.label}: SQL Server; run infra/sql/sqlserver/{kind}.sql there (not done by init)")


def cmd_biller_add(service: PayerAuth, args: argparse.Namespace) -> int:
    from shared.origins import parse_domain

    parse_domain(args.domain)
    guid = str(uuid.UUID(args.guid)) if args.guid else str(uuid.uuid4())
    shard = args.shard or next(iter(service.settings.shard_dbs))
    biller = service.directory.add_biller(guid, args.name, args.domain, shard)
    print(biller.guid)
    say(f"added biller {biller.guid} (BillerID {biller.biller_id}, shard {biller.shard})")
    return 0


def cmd_biller_list(service: PayerAuth, args: argparse.Namespace) -> int:
    for b in service.directory.list_billers():
        print(f"{b.guid}  id={b.biller_id}  shard={b.shard}  status={b.status}  domain={b.domain}  {b.display_name}")
    return 0


def cmd_token_mint(service: PayerAuth, args: argparse.Namespace) -> int:
    extra = dict(parse_claim(c) for c in args.claim)
    biller = service.biller_tokens.biller(args.biller)
    minted = service.biller_tokens.mint(
        biller.guid,
        args.domain or biller.domain,
        CLI_ACTOR,
        expires_in=args.expires_in,
        extra=extra,
        record=not args.no_record,
    )
    say(f"jti {minted.record.jti}" + ("" if args.no_record else " recorded in shard " + biller.shard))
    print(minted.token)
    return 0


def cmd_token_revoke(service: PayerAuth, args: argparse.Namespace) -> int:
    record = service.biller_tokens.revoke(args.biller, args.jti, CLI_ACTOR)
    say(f"jti {record.jti}: active={record.active} revokedAt={record.revoked_at}")
    say(
        f"exchanges with it stop within {service.settings.revocation_bound} s on every running instance "
        "(PAYERAUTH_REVOCATION_BOUND)"
    )
    return 0


def cmd_token_list(service: PayerAuth, args: argparse.Namespace) -> int:
    for record in service.biller_tokens.list(args.biller):
        print(json.dumps(record.public()))
    return 0


def cmd_keys_rotate(service: PayerAuth, args: argparse.Namespace) -> int:
    source = service.ic_keys.source
    if not isinstance(source, LocalKeySource):
        say("keys rotate only manages local development keys; rotate the certificate in Key Vault")
        return 1
    s = service.settings
    say(f"added key version {source.add_version()} in {source.folder}")
    say(
        f"running instances publish it in the JWKS within {s.key_refresh_interval} s "
        f"(PAYERAUTH_KEY_REFRESH_SECONDS) and sign with it {s.key_overlap} s after that "
        "(PAYERAUTH_KEY_OVERLAP_SECONDS)"
    )
    return 0


def cmd_health(service: PayerAuth, args: argparse.Namespace) -> int:
    """What ``api/health`` no longer tells anonymous callers: key versions, refresh errors, databases."""
    report = service.health_detail()
    print(json.dumps(report, indent=2))
    return 0 if report["status"] == "ok" else 1


def cmd_tenant_add(service: PayerAuth, args: argparse.Namespace) -> int:
    from shared.keystores.secret_store import LocalSecretStore
    from shared.tenants.registry import Tenant

    secret_name = args.hs256_secret_name
    if args.hs256_secret_file:
        store = service.tenants.secrets
        if not isinstance(store, LocalSecretStore):
            say("with Key Vault, put the secret in the vault and pass --hs256-secret-name")
            return 1
        secret_name = "tenant-" + "".join(c if c.isalnum() else "-" for c in args.id)[:100]
        store.put(secret_name, args.hs256_secret_file.read_text().strip())
    tenant = Tenant(
        args.id,
        args.audience,
        "HS256" if secret_name else "RS256",
        args.return_url,
        tuple(args.frame_ancestor),
        args.pem_file.read_text() if args.pem_file else None,
        args.jwks_url,
        secret_name,
    )
    try:
        service.tenants.add(tenant, development=service.settings.development)
    except PayerAuthError:
        if args.hs256_secret_file and secret_name:
            (service.settings.local_dir / "secrets" / secret_name).unlink(missing_ok=True)
        raise
    say(f"registered tenant {tenant.tenant_id} ({tenant.algorithm}, {tenant.key_source})")
    return 0


def cmd_tenant_list(service: PayerAuth, args: argparse.Namespace) -> int:
    for tenant in service.tenants.list():
        print(json.dumps(tenant.public()))
    return 0


def cmd_tenant_remove(service: PayerAuth, args: argparse.Namespace) -> int:
    service.tenants.remove(args.id)
    say(f"removed tenant {args.id}")
    return 0


def cmd_tenant_dev_add(service: PayerAuth, args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from shared.tenants.registry import Tenant

    refuse_outside_development(service, "tenant dev-add")
    key_file = dev_tenant_key_file(service, args.id)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    demo = f"http://{DEMO_ORIGIN_DOMAIN}"
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    tenant = Tenant(
        args.id, args.audience, "RS256", args.return_url or f"{demo}/", tuple(args.frame_ancestor or [demo]), public_pem
    )
    service.tenants.add(tenant, development=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    say(f"registered tenant {tenant.tenant_id} (RS256, key in {key_file}); sign a login with:")
    say(f"  python -m tools.cli tenant mint --id {tenant.tenant_id} --email someone@example.com")
    return 0


def cmd_tenant_mint(service: PayerAuth, args: argparse.Namespace) -> int:
    import time

    import jwt

    refuse_outside_development(service, "tenant mint")
    user = {k: v for k, v in {"email": args.email, "mobile": args.mobile, "userId": args.user_id}.items() if v}
    if not user:
        raise SystemExit("tenant mint needs --email, --mobile or --user-id")
    key_file = dev_tenant_key_file(service, args.id)
    tenant = next((t for t in service.tenants.list() if t.tenant_id == args.id), None)
    if tenant is None or not key_file.exists():
        raise SystemExit(f"no development tenant {args.id!r}: run tenant dev-add --id {args.id} first")
    now = int(time.time())
    claims = {
        "iss": tenant.tenant_id,
        "aud": tenant.audience,
        "iat": now,
        "exp": now + args.lifetime,
        "jti": uuid.uuid4().hex,
        **user,
    }
    token = jwt.encode(claims, key_file.read_bytes(), algorithm="RS256")
    say(f"a one-time tenant JWT (expires in {args.lifetime} s) is on stdout; open the login in the iframe:")
    say(f"  {service.settings.public_base_url}/api/tenant/login?token={token}")
    print(token)
    return 0


def dev_tenant_key_file(service: PayerAuth, tenant_id: str) -> Path:
    safe = "".join(c if c.isalnum() else "-" for c in tenant_id)[:100]
    return service.settings.local_dir / "tenants" / f"{safe}.pem"


def refuse_outside_development(service: PayerAuth, command: str) -> None:
    if not service.settings.development:
        raise SystemExit(
            f"{command} is for development only (PAYERAUTH_ENVIRONMENT is {service.settings.environment!r})"
        )


def parse_claim(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--claim expects NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


def say(message: str) -> None:
    print(message, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
