"""The run tokens: each run process's own ``TFY_API_KEY``, good for the ML-runs endpoints.

>>> live = {"run-1"}
>>> tokens = RunTokens(lambda run_id: run_id in live)
>>> token = tokens.issue("run-1")
>>> tokens.valid(token), tokens.valid("tfy_run_guess")
(True, False)
>>> live.clear(); tokens.valid(token)
False
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

__all__ = ["RunTokens"]


class RunTokens:
    """Tokens handed to run processes as ``TFY_API_KEY``, valid for the ML-runs endpoints only,
    and only while their run is live.

    Only their SHA-256 digests are kept, in memory: a token is never written anywhere, and
    looking one up compares digests, not the secret itself. ``is_live(run_id)`` says whether
    a token's run may still call: once it ended, its token opens nothing (and is forgotten).
    """

    def __init__(self, is_live: Callable[[str], bool] = lambda run_id: True) -> None:
        self._runs: dict[bytes, str] = {}  # digest -> the run it was issued to
        self._is_live = is_live

    def issue(self, run_id: str = "") -> str:
        token = "tfy_run_" + secrets.token_urlsafe(32)
        self._runs[_digest(token)] = run_id
        return token

    def valid(self, token: str) -> bool:
        digest = _digest(token)
        run_id = self._runs.get(digest)
        if run_id is None:
            return False
        if run_id and not self._is_live(run_id):
            self._runs.pop(digest, None)
            return False
        return True


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()
