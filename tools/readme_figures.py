"""What the README figure scripts share: a throwaway sandbox with a session on it, and
filling a fenced block of README.md between its markers."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobmagic.config import Settings
from jobmagic.domain.session import JobSession
from jobmagic.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


@contextmanager
def sandbox_session() -> Iterator[JobSession]:
    """A session on a fresh sandbox in a temporary folder, both gone afterwards."""
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(Path(tmp) / "sandbox") as sandbox:
        session = JobSession(
            Settings(
                host=sandbox.host,
                api_key=sandbox.token,
                ledger_path=str(Path(tmp) / "ledger.db"),
                show_cards=False,
            )
        )
        try:
            yield session
        finally:
            session.close()


def fill_readme_block(marker: str, text: str) -> None:
    """Put ``text`` in README.md's ```text block between ``<!-- marker -->`` and
    ``<!-- /marker -->``."""
    block = re.compile(rf"(<!-- {marker} -->\n```text\n).*?(```\n<!-- /{marker} -->)", re.S)
    readme = README.read_text()
    if not block.search(readme):
        raise SystemExit(f"README.md has no <!-- {marker} --> block to fill")
    README.write_text(block.sub(lambda m: m.group(1) + text + "\n" + m.group(2), readme))
