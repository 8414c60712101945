"""Settings: a missing or malformed one stops start-up with a message naming it."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, load_settings
from gateway.demo import on_sandbox
from gateway.domain import ProviderName

ESIGN = {
    "SEALGW_ESIGN_BASE_URL": "https://smlopenapi.esign.cn",
    "SEALGW_ESIGN_APP_ID": "app",
    "SEALGW_ESIGN_APP_SECRET": "secret",
    "SEALGW_ESIGN_ORG_ID": "org",
}
YUNYIN = {
    "SEALGW_YUNYIN_BASE_URL": "https://openapi.yunyinsign.com",
    "SEALGW_YUNYIN_APP_ID": "app",
    "SEALGW_YUNYIN_APP_SECRET": "secret",
    "SEALGW_YUNYIN_USER_ID": "20001",
}


def test_nothing_configured_means_sandbox() -> None:
    settings = load_settings({})
    assert settings.sandbox is True
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.introspection is True
    pointed = on_sandbox(settings, "http://127.0.0.1:9000/sandbox")
    (tenant,) = pointed.tenants
    assert tenant.name == "default"
    assert tenant.vendors.esign is not None
    assert tenant.vendors.yunyin is not None
    assert tenant.vendors.esign.base_url == "http://127.0.0.1:9000/sandbox/esign"
    assert set(tenant.scope().accounts) == {ProviderName.ESIGN, ProviderName.YUNYIN}


def test_only_the_configured_vendors_are_used() -> None:
    settings = load_settings(ESIGN)
    assert settings.sandbox is False
    assert settings.introspection is False
    (tenant,) = settings.tenants
    assert tenant.vendors.yunyin is None
    assert tenant.scope().accounts == {ProviderName.ESIGN: "org"}
    assert tenant.vendors.esign is not None
    assert tenant.vendors.esign.auth_mode == "signature"
    both = load_settings({**ESIGN, **YUNYIN, "SEALGW_ESIGN_AUTH_MODE": "token", "SEALGW_PORT": "9"})
    (tenant,) = both.tenants
    assert tenant.vendors.esign is not None
    assert tenant.vendors.esign.auth_mode == "token"
    assert tenant.scope().accounts[ProviderName.YUNYIN] == "20001"
    assert both.port == 9
    assert tenant.vendors.yunyin is not None
    assert tenant.vendors.yunyin.source == "API"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({**ESIGN, "SEALGW_ESIGN_APP_SECRET": ""}, "SEALGW_ESIGN_APP_SECRET"),
        ({**ESIGN, "SEALGW_ESIGN_ORG_ID": " "}, "SEALGW_ESIGN_ORG_ID"),
        ({**ESIGN, "SEALGW_ESIGN_BASE_URL": "openapi.esign.cn"}, "SEALGW_ESIGN_BASE_URL"),
        ({**ESIGN, "SEALGW_ESIGN_AUTH_MODE": "hmac"}, "SEALGW_ESIGN_AUTH_MODE"),
        ({**ESIGN, "SEALGW_ESIGN_OFFSET_BASE": "2"}, "SEALGW_ESIGN_OFFSET_BASE"),
        ({**YUNYIN, "SEALGW_YUNYIN_USER_ID": "admin"}, "SEALGW_YUNYIN_USER_ID"),
        (
            {k: v for k, v in YUNYIN.items() if k != "SEALGW_YUNYIN_USER_ID"},
            "SEALGW_YUNYIN_USER_ID",
        ),
        ({"SEALGW_YUNYIN_APP_ID": "app"}, "SEALGW_YUNYIN_BASE_URL"),
        ({"SEALGW_PORT": "eighty"}, "SEALGW_PORT"),
        ({"SEALGW_PORT": "70000"}, "SEALGW_PORT"),
        ({"SEALGW_MAX_PAGE_SIZE": "500"}, "SEALGW_MAX_PAGE_SIZE"),
        ({"SEALGW_UPSTREAM_TIMEOUT": "-1"}, "SEALGW_UPSTREAM_TIMEOUT"),
        ({"SEALGW_LOG_LEVEL": "LOUD"}, "SEALGW_LOG_LEVEL"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_secret_values_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**ESIGN, "SEALGW_ESIGN_APP_SECRET": "", "SEALGW_ESIGN_APP_ID": ""})
    assert "secret" not in str(caught.value).replace("SECRET", "")


def test_every_setting_is_declared_once_and_documented() -> None:
    """The table in gateway/settings.py is the one list: every SEALGW_ name the code mentions
    is a row of it, and README's configuration table names every row."""
    import re
    from pathlib import Path

    from gateway.settings import SETTINGS

    root = Path(__file__).resolve().parent.parent
    declared = {spec.variable for spec in SETTINGS.values()}
    mentioned = set()
    for path in (root / "gateway").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        mentioned |= set(
            re.findall(r"SEALGW_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])", path.read_text(encoding="utf-8"))
        )
    assert mentioned <= declared, sorted(mentioned - declared)
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration") : readme.index("## Where each field")]
    missing = sorted(name for name in declared if f"`{name}`" not in section)
    assert missing == [], missing


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SEALGW_MAX_FIELD_REPEATS", "1", "between 2 and 1000"),
        ("SEALGW_BODY_TIMEOUT", "soon", "a number"),
        ("SEALGW_MAX_CONCURRENT_PER_TENANT", "0", "between 1 and 100000"),
        ("SEALGW_LOG_FORMAT", "xml", "one of 'json', 'text'"),
        ("SEALGW_GRAPHIQL_FETCH", "maybe", "'on' or 'off'"),
    ],
)
def test_a_setting_out_of_its_bounds_stops_start_up(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    assert name in str(caught.value)
    assert says in str(caught.value)


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = load_settings({**ESIGN, "SEALGW_ESIGN_APP_SECRET": "s3cret-value"})
    assert "s3cret-value" not in repr(settings)
