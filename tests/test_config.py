"""Credential resolution order, masking, and the http:// guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobmagic.config import Settings, jobmagic_home, mask_token, resolve_credentials
from jobmagic.errors import ConfigError
from jobmagic.ipython.settings import JobMagic

SECRET = "tfy_very-secret-token-value"


def _login_file(home: Path, host: str, token: str) -> None:
    folder = home / ".truefoundry"
    folder.mkdir(parents=True)
    (folder / "credentials.json").write_text(
        json.dumps({"host": host, "access_token": token, "refresh_token": "r"})
    )


def test_first_place_wins(tmp_path: Path) -> None:
    _login_file(tmp_path, "https://file.example.com", "tfy_file")
    env = {"TFY_HOST": "https://env.example.com", "TFY_API_KEY": "tfy_env"}

    only_file = resolve_credentials(env={}, home=tmp_path)
    assert (only_file.host, only_file.token) == ("https://file.example.com", "tfy_file")
    assert only_file.token_source.endswith("credentials.json")

    from_env = resolve_credentials(env=env, home=tmp_path)
    assert (from_env.host, from_env.token, from_env.host_source) == (
        "https://env.example.com",
        "tfy_env",
        "TFY_HOST",
    )

    configured = resolve_credentials(
        configured_host="https://cfg.example.com",
        configured_token="tfy_cfg",
        env=env,
        home=tmp_path,
    )
    assert (configured.host, configured.token) == ("https://cfg.example.com", "tfy_cfg")
    assert configured.token_source == "%config JobMagic.api_key"

    explicit = resolve_credentials(
        "https://arg.example.com/",
        "tfy_arg",
        configured_host="https://cfg.example.com",
        env=env,
        home=tmp_path,
    )
    assert (explicit.host, explicit.token, explicit.host_source) == (
        "https://arg.example.com",
        "tfy_arg",
        "argument",
    )


def test_host_and_token_resolve_independently(tmp_path: Path) -> None:
    creds = resolve_credentials(
        "https://arg.example.com", env={"TFY_API_KEY": "tfy_env"}, home=tmp_path
    )
    assert (creds.host_source, creds.token_source) == ("argument", "TFY_API_KEY")


def test_missing_credentials_name_all_four_places(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(env={}, home=tmp_path)
    message = str(caught.value)
    for place in ("host=", "%config JobMagic.host", "TFY_HOST", "TFY_API_KEY", "credentials.json"):
        assert place in message
    assert "sandbox start" in message


def test_token_never_in_repr_or_str(tmp_path: Path) -> None:
    creds = resolve_credentials("https://h.example.com", SECRET, env={}, home=tmp_path)
    settings = Settings(host="https://h.example.com", api_key=SECRET)
    for text in (repr(creds), str(creds), repr(settings), str(settings), mask_token(SECRET)):
        assert SECRET not in text
        assert "very-secret" not in text


def test_config_trait_hides_the_token() -> None:
    settings = JobMagic()
    settings.api_key = SECRET
    help_text = JobMagic.class_get_help(settings)  # what `%config JobMagic` prints
    assert SECRET not in help_text
    assert "Current: 'tfy_…'" in help_text
    assert settings.to_settings().api_key == SECRET


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:9000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_plain_http_is_fine_on_loopback(host: str, tmp_path: Path) -> None:
    assert resolve_credentials(host, "tfy_x", env={}, home=tmp_path).host == host


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="plain http://"):
        resolve_credentials("http://tfy.example.com", "tfy_x", env={}, home=tmp_path)
    allowed = resolve_credentials(
        "http://tfy.example.com", "tfy_x", env={}, home=tmp_path, allow_insecure_http=True
    )
    assert allowed.host == "http://tfy.example.com"


@pytest.mark.parametrize("host", ["tfy.example.com", "ftp://x.example.com", "https://"])
def test_host_must_be_a_url(host: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a URL"):
        resolve_credentials(host, "tfy_x", env={}, home=tmp_path)


def test_unreadable_login_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / ".truefoundry"
    folder.mkdir()
    (folder / "credentials.json").write_text("{not json")
    with pytest.raises(ConfigError, match="tfy login"):
        resolve_credentials(env={}, home=tmp_path)


def test_jobmagic_home(tmp_path: Path) -> None:
    assert jobmagic_home({"JOBMAGIC_HOME": str(tmp_path)}) == tmp_path
    assert jobmagic_home({}).name == ".jobmagic"
