"""Tenants: each organisation the gateway serves, with its vendor accounts and its callers (API
keys with a role each, JWT issuers), read from a TOML file (`SEALGW_TENANTS_FILE`).

Secrets are never written in the file: a secret is `{ env = "NAME" }`, read from the
environment at start-up. An inline secret, an unknown key, a missing reference or a malformed
value stops start-up with a message naming the line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.domain import OrgScope, ProviderName, Role
from gateway.providers.esign.client import EsignSettings
from gateway.providers.http import HttpSettings
from gateway.providers.yunyin.client import YunyinSettings
from gateway.settings import DEFAULTS, ConfigError


@dataclass(frozen=True, slots=True)
class VendorSettings:
    esign: EsignSettings | None = None
    esign_org_id: str = ""
    yunyin: YunyinSettings | None = None
    yunyin_user_id: str = ""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A service's key, kept only as its SHA-256 digest."""

    name: str
    digest: bytes
    role: Role
    revoked: bool = False


HMAC_ALGORITHMS = frozenset({"HS256"})
KEY_ALGORITHMS = frozenset({"RS256", "ES256"})


@dataclass(frozen=True, slots=True)
class JwtIssuer:
    """Who may issue tokens for a tenant, and how to read them."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    secret: str | None = field(default=None, repr=False)  # HS256
    jwks_file: str | None = None  # RS256 / ES256
    jwks_url: str | None = None
    role_claim: str = "role"
    # When several tenants share an issuer: the claim whose value is the tenant's name.
    tenant_claim: str | None = None
    # The claim carrying the person's 云银签 user id; set it to let vendor checks apply to them.
    operator_claim: str | None = None


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    vendors: VendorSettings
    api_keys: tuple[ApiKey, ...] = ()
    issuers: tuple[JwtIssuer, ...] = ()

    def scope(self) -> OrgScope:
        accounts = {}
        if self.vendors.esign is not None:
            accounts[ProviderName.ESIGN] = self.vendors.esign_org_id
        if self.vendors.yunyin is not None:
            accounts[ProviderName.YUNYIN] = self.vendors.yunyin_user_id
        return OrgScope(accounts)

    @property
    def has_callers(self) -> bool:
        return bool(self.api_keys or self.issuers)


# --- the file -------------------------------------------------------------------------------

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
SECRET_FIELDS = frozenset({"app_secret", "secret"})
KEYS: dict[str, frozenset[str]] = {
    "tenant": frozenset({"esign", "yunyin", "api_keys", "jwt"}),
    "esign": frozenset(
        {
            "base_url",
            "app_id",
            "app_secret",
            "auth_mode",
            "org_id",
            "offset_base",
            "transactor_psn_id",
            "rate_per_second",
        }
    ),
    "yunyin": frozenset(
        {"base_url", "app_id", "app_secret", "user_id", "source", "rate_per_second"}
    ),
    "api_keys": frozenset({"name", "role", "digest", "revoked"}),
    "jwt": frozenset(
        {
            "issuer",
            "audience",
            "algorithms",
            "secret",
            "jwks_file",
            "jwks_url",
            "role_claim",
            "tenant_claim",
            "operator_claim",
        }
    ),
}


def _line_index(text: str) -> dict[str, int]:
    """Where each table and key of the file stands: dotted path -> line number."""
    lines: dict[str, int] = {}
    table = ""
    arrays: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[[") and "]]" in line:
            name = line[2 : line.index("]]")].strip()
            arrays[name] = arrays.get(name, -1) + 1
            table = f"{name}.{arrays[name]}"
        elif line.startswith("[") and "]" in line:
            table = line[1 : line.index("]")].strip()
        elif "=" in line and not line.startswith("#"):
            key = line.split("=", 1)[0].strip().strip('"')
            lines.setdefault(f"{table}.{key}" if table else key, number)
            continue
        else:
            continue
        lines.setdefault(table, number)
    return lines


@dataclass
class _Reader:
    """Reads the parsed file, naming the line of whatever is wrong."""

    path: str
    lines: dict[str, int]
    environ: Mapping[str, str]
    http: HttpSettings = field(default_factory=HttpSettings)

    def fail(self, where: str, message: str) -> ConfigError:
        probe = where
        while probe and probe not in self.lines:
            probe = probe.rpartition(".")[0]
        line = self.lines.get(probe)
        at = f"{self.path}, line {line}" if line else self.path
        return ConfigError(f"{at} ({where}): {message}")

    def table(self, value: object, where: str, kind: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a table.")
        unknown = sorted(set(value) - KEYS[kind])
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}", f"unknown key {unknown[0]!r}.")
        return value

    def text(self, table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if key in SECRET_FIELDS:
            return self.secret(value, f"{where}.{key}")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", f"{key} is required (a non-empty string).")
        return value.strip()

    def secret(self, value: object, where: str) -> str:
        if isinstance(value, str):
            raise self.fail(
                where, 'secrets are never written in the file: use { env = "VARIABLE" }.'
            )
        if (
            not isinstance(value, dict)
            or set(value) != {"env"}
            or not isinstance(value["env"], str)
        ):
            raise self.fail(where, 'a secret is written { env = "VARIABLE" }.')
        found = self.environ.get(value["env"], "").strip()
        if not found:
            raise self.fail(where, f"the environment variable {value['env']} is not set.")
        return found

    def url(self, table: dict[str, Any], where: str) -> str:
        value = self.text(table, "base_url", where)
        if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value):
            raise self.fail(f"{where}.base_url", f"not an http(s) URL: {value!r}.")
        return value.rstrip("/")

    def esign(self, value: object, where: str) -> tuple[EsignSettings, str]:
        table = self.table(value, where, "esign")
        mode = table.get("auth_mode", DEFAULTS.esign_auth_mode)
        if mode not in ("signature", "token"):
            raise self.fail(f"{where}.auth_mode", "must be 'signature' or 'token'.")
        base = table.get("offset_base", DEFAULTS.esign_offset_base)
        if base not in (0, 1):
            raise self.fail(f"{where}.offset_base", "must be 0 or 1.")
        settings = EsignSettings(
            base_url=self.url(table, where),
            app_id=self.text(table, "app_id", where),
            app_secret=self.text(table, "app_secret", where),
            auth_mode="signature" if mode == "signature" else "token",
            offset_base=int(base),
            transactor_psn_id=(
                self.text(table, "transactor_psn_id", where)
                if "transactor_psn_id" in table
                else None
            ),
            rate_per_second=self.rate(table, where, DEFAULTS.esign_rate_limit),
            http=self.http,
        )
        return settings, self.text(table, "org_id", where)

    def yunyin(self, value: object, where: str) -> tuple[YunyinSettings, str]:
        table = self.table(value, where, "yunyin")
        user = table.get("user_id")
        if isinstance(user, bool) or not isinstance(user, int) or not 0 < user < 2**63:
            raise self.fail(f"{where}.user_id", "the operator's user id (a positive integer).")
        settings = YunyinSettings(
            base_url=self.url(table, where),
            app_id=self.text(table, "app_id", where),
            app_secret=self.text(table, "app_secret", where),
            source=self.text(table, "source", where, DEFAULTS.yunyin_source),
            rate_per_second=self.rate(table, where, DEFAULTS.yunyin_rate_limit),
            http=self.http,
        )
        return settings, str(user)

    def rate(self, table: dict[str, Any], where: str, default: int | None) -> int | None:
        """The vendor app's calls per second for the gateway's own limit; 0 turns it off."""
        value = table.get("rate_per_second", default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            raise self.fail(f"{where}.rate_per_second", "calls per second (0 for no limit).")
        return value or None

    def role(self, value: object, where: str) -> Role:
        try:
            return Role(str(value))
        except ValueError:
            raise self.fail(where, "role must be 'viewer' or 'admin'.") from None

    def api_key(self, value: object, where: str) -> ApiKey:
        table = self.table(value, where, "api_keys")
        digest = DIGEST.match(str(table.get("digest", "")))
        if digest is None:
            raise self.fail(
                f"{where}.digest", "digest is 'sha256:' and 64 hex digits (seal-gateway key new)."
            )
        revoked = table.get("revoked", False)
        if not isinstance(revoked, bool):
            raise self.fail(f"{where}.revoked", "revoked is true or false.")
        return ApiKey(
            name=self.text(table, "name", where),
            digest=bytes.fromhex(digest.group(1)),
            role=self.role(table.get("role"), f"{where}.role"),
            revoked=revoked,
        )

    def issuer(self, value: object, where: str) -> JwtIssuer:
        table = self.table(value, where, "jwt")
        algorithms = table.get("algorithms", ["RS256"])
        if (
            not isinstance(algorithms, list)
            or not algorithms
            or not set(algorithms) <= HMAC_ALGORITHMS | KEY_ALGORITHMS
        ):
            raise self.fail(f"{where}.algorithms", "algorithms: a list of HS256, RS256, ES256.")
        hmac_only = set(algorithms) <= HMAC_ALGORITHMS
        if not hmac_only and set(algorithms) & HMAC_ALGORITHMS:
            raise self.fail(
                f"{where}.algorithms",
                "an issuer signs with a shared secret (HS256) or with keys (RS256, ES256), "
                "never both: mixing them invites algorithm confusion.",
            )
        sources = [k for k in ("secret", "jwks_file", "jwks_url") if k in table]
        wanted = ["secret"] if hmac_only else ["jwks_file", "jwks_url"]
        if len(sources) != 1 or sources[0] not in wanted:
            raise self.fail(
                where,
                "an HS256 issuer needs `secret`; an RS256/ES256 issuer one of `jwks_file`, "
                "`jwks_url`.",
            )
        optional = {
            key: self.text(table, key, where)
            for key in ("tenant_claim", "operator_claim")
            if key in table
        }
        return JwtIssuer(
            issuer=self.text(table, "issuer", where),
            audience=self.text(table, "audience", where),
            algorithms=tuple(algorithms),
            secret=self.text(table, "secret", where) if "secret" in table else None,
            jwks_file=self.text(table, "jwks_file", where) if "jwks_file" in table else None,
            jwks_url=self.text(table, "jwks_url", where) if "jwks_url" in table else None,
            role_claim=self.text(table, "role_claim", where, "role"),
            **optional,
        )

    def tenant(self, name: str, value: object) -> Tenant:
        where = f"tenants.{name}"
        if not TENANT_NAME.match(name):
            raise self.fail(where, "a tenant's name is 1-40 of a-z, 0-9, '-' and '_'.")
        table = self.table(value, where, "tenant")
        esign, org = (None, "")
        yunyin, user = (None, "")
        if "esign" in table:
            esign, org = self.esign(table["esign"], f"{where}.esign")
        if "yunyin" in table:
            yunyin, user = self.yunyin(table["yunyin"], f"{where}.yunyin")
        if esign is None and yunyin is None:
            raise self.fail(where, "a tenant needs [tenants.NAME.esign] or [tenants.NAME.yunyin].")
        keys = table.get("api_keys", [])
        issuers = table.get("jwt", [])
        if not isinstance(keys, list) or not isinstance(issuers, list):
            raise self.fail(where, "api_keys and jwt are arrays of tables ([[...]]).")
        return Tenant(
            name=name,
            vendors=VendorSettings(esign, org, yunyin, user),
            api_keys=tuple(self.api_key(k, f"{where}.api_keys.{i}") for i, k in enumerate(keys)),
            issuers=tuple(self.issuer(j, f"{where}.jwt.{i}") for i, j in enumerate(issuers)),
        )


def load_tenants(path: str, environ: Mapping[str, str], http: HttpSettings) -> tuple[Tenant, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"SEALGW_TENANTS_FILE {path}: cannot be read ({error.strerror})."
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}.") from None
    reader = _Reader(path, _line_index(text), environ, http)
    unknown = sorted(set(document) - {"tenants"})
    if unknown:
        raise reader.fail(
            unknown[0], f"unknown key {unknown[0]!r}; tenants go under [tenants.NAME]."
        )
    tenants_table = document.get("tenants")
    if not isinstance(tenants_table, dict) or not tenants_table:
        raise ConfigError(f"{path}: no tenants: add a [tenants.NAME] table.")
    tenants = tuple(reader.tenant(name, value) for name, value in tenants_table.items())
    _check_across(tenants, reader)
    return tenants


def _check_across(tenants: tuple[Tenant, ...], reader: _Reader) -> None:
    """Rules that span tenants: a key belongs to one tenant; a shared issuer names its tenant."""
    seen: dict[bytes, str] = {}
    for tenant in tenants:
        for index, key in enumerate(tenant.api_keys):
            where = f"tenants.{tenant.name}.api_keys.{index}.digest"
            if key.digest in seen:
                raise reader.fail(where, f"the same key is already listed for {seen[key.digest]}.")
            seen[key.digest] = tenant.name
    by_issuer: dict[str, list[tuple[Tenant, int, JwtIssuer]]] = {}
    for tenant in tenants:
        for index, issuer in enumerate(tenant.issuers):
            by_issuer.setdefault(issuer.issuer, []).append((tenant, index, issuer))
    for users in by_issuer.values():
        if len(users) > 1:
            for tenant, index, issuer in users:
                if issuer.tenant_claim is None:
                    raise reader.fail(
                        f"tenants.{tenant.name}.jwt.{index}",
                        "this issuer serves several tenants: set tenant_claim, the claim whose "
                        "value is the tenant's name.",
                    )
