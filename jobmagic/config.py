"""Where jobmagic points, and with which credentials.

Credentials are looked up where TrueFoundry's own tools keep them, first wins:

1. explicit arguments (``JobsClient(host=..., token=...)``),
2. ``%config JobMagic.host`` / ``JobMagic.api_key`` (passed in as ``configured_*``),
3. the ``TFY_HOST`` / ``TFY_API_KEY`` environment variables,
4. ``~/.truefoundry/credentials.json`` (``host``, ``access_token``), written by ``tfy login``.

>>> creds = resolve_credentials("http://127.0.0.1:8000", "tfy_secret")
>>> creds.host, repr(creds).count("secret")
('http://127.0.0.1:8000', 0)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from jobmagic.errors import ConfigError
from jobmagic.models.constants import API_PREFIX

__all__ = [
    "Credentials",
    "jobmagic_home",
    "mask_token",
    "resolve_credentials",
    "truefoundry_credentials_path",
]

_PLACES = (
    "explicit arguments (host=…, token=…), "
    "`%config JobMagic.host` / `%config JobMagic.api_key`, "
    "the TFY_HOST / TFY_API_KEY environment variables, "
    "or ~/.truefoundry/credentials.json (run `tfy login`)"
)


def mask_token(token: str | None) -> str:
    """A token as it may be shown: a short, harmless prefix and an ellipsis."""
    if not token:
        return "<none>"
    prefix = "tfy_" if token.startswith("tfy_") else ""
    return f"{prefix}…"


def jobmagic_home(env: Mapping[str, str] | None = None) -> Path:
    """Where jobmagic keeps local state: ``$JOBMAGIC_HOME``, else ``~/.jobmagic``."""
    env = os.environ if env is None else env
    configured = env.get("JOBMAGIC_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".jobmagic"


def truefoundry_credentials_path(home: Path | None = None) -> Path:
    return (home or Path.home()) / ".truefoundry" / "credentials.json"


@dataclass(frozen=True)
class Credentials:
    """A host and a token, and where each came from. The token never shows in ``repr``."""

    host: str
    token: str = field(repr=False)
    host_source: str = "argument"
    token_source: str = "argument"

    def __repr__(self) -> str:
        return (
            f"Credentials(host={self.host!r}, token={mask_token(self.token)!r}, "
            f"host_source={self.host_source!r}, token_source={self.token_source!r})"
        )

    __str__ = __repr__


def normalize_host(host: str) -> str:
    """Strip spaces and trailing slashes; require an http(s) URL with a host name."""
    cleaned = host.strip().rstrip("/")
    if cleaned.endswith(API_PREFIX):
        cleaned = cleaned[: -len(API_PREFIX)]
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"The host {host!r} is not a URL jobmagic can use. "
            "Give it with its scheme, e.g. https://my-org.truefoundry.cloud."
        )
    return cleaned


def is_loopback_host(host: str) -> bool:
    """True when the URL's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    hostname = urlsplit(host).hostname or ""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    import ipaddress  # only for a host that is not a name: not at load

    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def check_transport_security(host: str, *, allow_insecure_http: bool = False) -> None:
    """Refuse to send a bearer token over plain http:// to anything but loopback."""
    if urlsplit(host).scheme == "http" and not is_loopback_host(host) and not allow_insecure_http:
        raise ConfigError(
            f"Refusing to send your token over plain http:// to {urlsplit(host).hostname}: "
            "anyone on the network could read it. Use https://, or if you really mean it, "
            "pass allow_insecure_http=True (`%config JobMagic.allow_insecure_http = True`)."
        )


def _read_truefoundry_file(path: Path) -> tuple[str | None, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path} could not be read ({type(exc).__name__}). "
            "Run `tfy login` again, or set TFY_HOST and TFY_API_KEY."
        ) from None
    if not isinstance(data, dict):
        return None, None
    host = data.get("host")
    token = data.get("access_token")
    return (host if isinstance(host, str) and host else None), (
        token if isinstance(token, str) and token else None
    )


def resolve_credentials(
    host: str | None = None,
    token: str | None = None,
    *,
    configured_host: str | None = None,
    configured_token: str | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    allow_insecure_http: bool = False,
) -> Credentials:
    """Find the host and token, first wins; raise :class:`ConfigError` naming all places.

    Host and token are resolved separately, so a token from the environment can
    go with a host given as an argument.
    """
    env = os.environ if env is None else env
    file_path = truefoundry_credentials_path(home)
    file_host, file_token = _read_truefoundry_file(file_path)

    host_candidates = [
        (host, "argument"),
        (configured_host, "%config JobMagic.host"),
        (env.get("TFY_HOST"), "TFY_HOST"),
        (file_host, str(file_path)),
    ]
    token_candidates = [
        (token, "argument"),
        (configured_token, "%config JobMagic.api_key"),
        (env.get("TFY_API_KEY"), "TFY_API_KEY"),
        (file_token, str(file_path)),
    ]
    found_host = next(((v, s) for v, s in host_candidates if v), None)
    found_token = next(((v, s) for v, s in token_candidates if v), None)
    missing = [name for name, got in (("host", found_host), ("token", found_token)) if not got]
    if found_host is None or found_token is None:
        raise ConfigError(
            f"No TrueFoundry {' or '.join(missing)} found. Give one through {_PLACES}. "
            "No account? `%jobmagic sandbox start` runs a local one."
        )
    resolved_host = normalize_host(found_host[0])
    check_transport_security(resolved_host, allow_insecure_http=allow_insecure_http)
    return Credentials(
        host=resolved_host,
        token=found_token[0].strip(),
        host_source=found_host[1],
        token_source=found_token[1],
    )


@dataclass(frozen=True)
class Settings:
    """Everything a session needs to know, whether it came from ``%config`` or code."""

    host: str | None = None
    api_key: str | None = field(default=None, repr=False)
    poll_interval: float = 2.0
    wait_timeout: float | None = None
    request_timeout: float = 30.0
    show_cards: bool = True
    ledger_path: str | None = None
    #: Flush every ledger commit to the disk (survives a power cut, not only a crash).
    ledger_fsync: bool = False
    allow_insecure_http: bool = False
    verify_tls: bool = True
    ca_bundle: str | None = None
    concurrency: int = 8
    #: ``(metric name, regular expression)`` pairs that read metrics from logs.
    metric_patterns: tuple[tuple[str, str], ...] = ()
    #: ``(metric name, "min" | "max")`` pairs: which way a metric is better, over the defaults
    #: (:func:`jobmagic.models.objectives.metric_goal`).
    metric_goals: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={mask_token(value) if name == 'api_key' else value!r}"
            for name, value in self.__dict__.items()
        )
        return f"Settings({shown})"

    @property
    def verify(self) -> bool | str:
        """What httpx's ``verify`` takes: a CA bundle path, or whether to verify at all."""
        return self.ca_bundle or self.verify_tls

    def resolve(
        self, env: Mapping[str, str] | None = None, home: Path | None = None
    ) -> Credentials:
        """Credentials from these settings and the usual places after them."""
        return resolve_credentials(
            configured_host=self.host,
            configured_token=self.api_key,
            env=env,
            home=home,
            allow_insecure_http=self.allow_insecure_http,
        )
