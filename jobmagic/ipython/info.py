"""``%jobmagic``'s rows: where this session points, where the token came from (never the
token), the ledger, and a sandbox it started.

>>> from jobmagic.domain.session import JobSession
>>> from jobmagic.config import Settings
>>> view = info_view(JobSession(Settings(host="https://example.test", api_key="tfy_secret_1")))
>>> dict(view.rows)["token"]
'tfy_…'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobmagic._version import __version__
from jobmagic.config import mask_token
from jobmagic.errors import JobmagicError
from jobmagic.ledger import default_ledger_path
from jobmagic.widgets.text_views import InfoView

if TYPE_CHECKING:
    from jobmagic.domain.session import JobSession
    from jobmagic.sandbox import SandboxProcess

__all__ = ["info_view"]


def info_view(
    session: JobSession, sandbox: SandboxProcess | None = None, *, headline: str = "jobmagic"
) -> InfoView:
    """What ``%jobmagic`` shows for ``session`` (and the ``sandbox`` it started, if any)."""
    rows: list[tuple[str, str]] = [("version", __version__)]
    try:
        credentials = session.credentials()
    except JobmagicError as exc:
        rows += [("host", "not configured"), ("problem", str(exc))]
    else:
        rows += [
            ("host", credentials.host),
            ("host from", credentials.host_source),
            ("token", mask_token(credentials.token)),
            ("token from", credentials.token_source),
        ]
    settings = session.settings
    # Runs, not views: a run shown in a card and two boards is one run.
    runs = len({(h.application_id, h.name) for h in session.handles})
    rows += [
        ("ledger", settings.ledger_path or str(default_ledger_path())),
        ("poll interval", f"{settings.poll_interval:g} s"),
        ("runs this session", str(runs)),
    ]
    if sandbox is not None:
        rows += [("sandbox", f"{sandbox.host} (pid {sandbox.pid})")]
    return InfoView(rows=rows, headline=headline)
