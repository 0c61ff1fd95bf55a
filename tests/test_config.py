"""Settings precedence (defaults ← TOML ← VGI_* env ← flags) and the refusals that keep serving safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import config


def test_env_overrides_toml_and_flags_override_env(tmp_path: Path) -> None:
    toml = tmp_path / "vgi.toml"
    toml.write_text(
        'listen = "127.0.0.1:6000"\ngrace_seconds = 3\nservices = ["operator"]\ninsecure = true\n'
    )
    env = {
        "VGI_LISTEN": "127.0.0.1:7000",
        "VGI_SERVICES": "operator,dispatch",
        "VGI_MIGRATE_ON_START": "false",
    }

    settings = config.load(toml, environ=env, grace_seconds=1.5)

    assert settings.listen == "127.0.0.1:7000"
    assert settings.services == ("operator", "dispatch")
    assert settings.migrate_on_start is False
    assert settings.grace_seconds == 1.5
    assert settings.insecure is True
    assert settings.database_url == "sqlite:///var/vgi.db"


def test_unknown_settings_and_bad_values_are_refused(tmp_path: Path) -> None:
    toml = tmp_path / "vgi.toml"
    toml.write_text('lisen = "127.0.0.1:6000"\n')
    with pytest.raises(ValueError, match="lisen"):
        config.load(toml, environ={})
    with pytest.raises(ValueError, match="boolean"):
        config.load(environ={"VGI_INSECURE": "maybe"})


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "10.1.2.3:50051", "example.org:50051"])
def test_insecure_is_refused_off_loopback(listen: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        config.load(environ={}, listen=listen, insecure=True, jwks_file="jwks.json").validate()


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "localhost:50051", "[::1]:50051"])
def test_insecure_is_allowed_on_loopback(listen: str) -> None:
    config.load(environ={}, listen=listen, insecure=True, jwks_file="jwks.json").validate()


def test_tls_files_are_required_without_insecure() -> None:
    with pytest.raises(ValueError, match="TLS"):
        config.load(environ={}).validate()


def test_the_redis_answer_wait_must_be_positive() -> None:
    settings = config.load(environ={"VGI_REDIS_TIMEOUT_SECONDS": "0"}, insecure=True, jwks_file="jwks.json")
    with pytest.raises(ValueError, match="redis_timeout_seconds"):
        settings.validate()
    config.load(environ={"VGI_REDIS_TIMEOUT_SECONDS": "2.5"}, insecure=True, jwks_file="jwks.json").validate()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("VGI_METER_VALUE_RETENTION_DAYS", "inf", "meter_value_retention_days must be a finite number"),
        ("VGI_METER_VALUE_RETENTION_DAYS", "nan", "meter_value_retention_days must be a finite number"),
        ("VGI_METER_VALUE_RETENTION_DAYS", "1e308", "meter_value_retention_days must be between 0 and 36500"),
        ("VGI_REDIS_TIMEOUT_SECONDS", "nan", "redis_timeout_seconds must be a finite number"),
        ("VGI_RETENTION_INTERVAL_SECONDS", "nan", "retention_interval_seconds must be a finite number"),
    ],
)
def test_numbers_that_are_not_finite_or_too_large_are_refused(
    variable: str, value: str, message: str
) -> None:
    settings = config.load(environ={variable: value}, insecure=True, jwks_file="jwks.json")
    with pytest.raises(ValueError, match=message):
        settings.validate()


def test_access_log_takes_a_policy_or_the_boolean_of_earlier_releases(tmp_path: Path) -> None:
    toml = tmp_path / "vgi.toml"
    toml.write_text("access_log = false\n")
    assert config.load(toml, environ={}).access_policy() == "off"
    assert config.load(None, environ={"VGI_ACCESS_LOG": "true"}).access_policy() == "all"
    assert config.load(None, environ={"VGI_ACCESS_LOG": "Sampled"}).access_policy() == "sampled"
    assert config.Settings().access_policy() == "sampled"  # the default: sampled calls, errors and slow calls
    with pytest.raises(ValueError, match="access_log: 'some' is not one of all, sampled, errors, off"):
        config.Settings(access_log="some", insecure=True, listen="127.0.0.1:0").validate()
    with pytest.raises(ValueError, match="access_log_slow_seconds must not be negative"):
        config.Settings(access_log_slow_seconds=-1.0, insecure=True, listen="127.0.0.1:0").validate()
