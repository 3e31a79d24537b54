"""Tab completion for the magics, through IPython's completer (Lab, Notebook, VS Code, terminal).

What completes:

- after ``%trigger_job`` / ``%%trigger_job`` / ``--app`` (and in the target string of
  ``jobmagic.TriggerForm("…``, ``trigger`` and ``sweep``): application FQNs and names;
- after the target: its declared params as ``name=`` (``name: `` in a cell body);
- a word starting with ``-``: the magic's flags, from its parser
  (:mod:`jobmagic.ipython.args.parsers`);
- after ``%job_run`` / ``%job_rerun``: run names from the ledger, newest first;
- ``--status`` values, ``--application-id`` / ``--deployment-id`` ids, ``%jobmagic`` words.

The matcher uses IPython's matcher API v2 (a callable in ``IPCompleter.custom_matchers``): it
sees the whole cell and the cursor, so it can complete inside a ``%%trigger_job`` body,
and it says which fragment it replaces, so ``sandbox:demo:h`` is completed as one word
although IPython's splitter breaks words at ``:``. ipykernel's ``complete_request``
(``Completer.completions``) and the terminal both go through it.

Applications come from ``GET /apps``, cached per session for :data:`APPS_TTL` seconds. A
fetch runs in a thread with a short timeout of its own; a completion waits for it at most
:data:`WAIT_SECONDS`, and completes nothing (never fails) when the host is unreachable,
remembering that for :data:`RETRY_SECONDS` so the next TABs answer at once.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from IPython.core.completer import (
    CompletionContext,
    SimpleCompletion,
    SimpleMatcherResult,
    context_matcher,
)

from jobmagic.errors import JobmagicError
from jobmagic.ipython.args import parsers
from jobmagic.ipython.args.help import flag_actions, positional_actions

if TYPE_CHECKING:
    import argparse

    from jobmagic.config import Credentials
    from jobmagic.domain.session import JobSession
    from jobmagic.models import Application

__all__ = ["JobCompleter", "LineContext", "install", "line_context", "uninstall"]

#: How long a fetched application list is used before it is fetched again.
APPS_TTL = 30.0
#: How long a completion waits for a fetch in flight before completing without it.
WAIT_SECONDS = 1.5
#: After a failed fetch (offline, bad token), how long completion stops asking.
RETRY_SECONDS = 15.0
#: The request timeout of the completion's own client (the session's may be 30 s).
REQUEST_TIMEOUT = 1.5

_MAGIC = re.compile(r"(?:^|[\s=(])(%{1,2})([A-Za-z_]\w*)(?=\s)")
_PYTHON_TARGET = re.compile(
    r"\b(?:TriggerForm|trigger|sweep)\(\s*(?:target\s*=\s*)?[\"']([^\"'\s]*)$"
)
_BODY_NAME = re.compile(r"^\s*([A-Za-z_][\w.-]*)?$")
_BODY_KEY = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*:")
_RUN_MAGICS = ("job_run", "job_rerun")


# --- reading the line (pure) ----------------------------------------------------------


@dataclass(frozen=True)
class LineContext:
    """Where the cursor is on a magic's line: the magic, the words before the one being
    typed, that word, and the words after the cursor."""

    magic: str
    cell: bool
    words: tuple[str, ...]
    current: str
    after: tuple[str, ...] = ()


def line_context(before: str, after: str = "") -> LineContext | None:
    """The context of a cursor on a jobmagic magic's line, else ``None``.

    >>> line_context("run = %trigger_job sandbox:demo:h")
    LineContext(magic='trigger_job', cell=False, words=(), current='sandbox:demo:h', after=())
    >>> line_context("%job_runs --status RUNNING ").words
    ('--status', 'RUNNING')
    """
    for match in _MAGIC.finditer(before):
        if match.group(2) not in parsers.PARSERS:
            continue
        rest = before[match.end() :]
        words = rest.split()
        current = "" if not words or rest[-1:].isspace() else words.pop()
        return LineContext(
            magic=match.group(2),
            cell=match.group(1) == "%%",
            words=tuple(words),
            current=current,
            after=tuple(after.split()),
        )
    return None


def _actions_by_flag(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {spelling: a for a in flag_actions(parser) for spelling in a.option_strings}


@dataclass
class _Reading:
    """The line's words sorted into positionals and flags, as argparse would."""

    positionals: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # dests of the flags given
    pending: argparse.Action | None = None  # a flag whose value is being typed


def _read(parser: argparse.ArgumentParser, words: Sequence[str]) -> _Reading:
    by_flag = _actions_by_flag(parser)
    reading = _Reading()
    for word in words:
        action = by_flag.get(word.partition("=")[0]) if word.startswith("-") else None
        if action is not None:
            reading.used.add(action.dest)
            takes_value = action.nargs != 0 and "=" not in word
            reading.pending = action if takes_value else None
        elif reading.pending is not None:
            if reading.pending.nargs != "+":
                reading.pending = None  # its one value is this word
        else:
            reading.positionals.append(word)
    return reading


def _flag_value(words: Sequence[str], flag: str) -> str | None:
    """The value given to ``flag`` (``--app X`` or ``--app=X``) among ``words``."""
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1 :]
    return None


# --- what to offer --------------------------------------------------------------------


class _Sources:
    """What completion draws on: the application list (cached) and the ledger."""

    def __init__(self, session: JobSession | Callable[[], JobSession], apps: _AppCache):
        self._session = session
        self.app_cache = apps

    @property
    def session(self) -> JobSession:
        # A callable when the extension made this: its session is made on first use.
        from jobmagic.domain.session import JobSession

        source = self._session
        return source if isinstance(source, JobSession) else source()

    def credentials(self) -> Credentials | None:
        try:
            return self.session.credentials()
        except JobmagicError:
            return None  # not set up yet: nothing to ask

    def apps(self) -> list[Application]:
        credentials = self.credentials()
        if credentials is None:
            return []
        settings = self.session.settings
        return self.app_cache.get(credentials, lambda: _fetch_apps(credentials, settings.verify))

    def app(self, target: str | None) -> Application | None:
        if not target:
            return None
        apps = self.apps()
        exact = [a for a in apps if target in (a.fqn, a.id)]
        named = [a for a in apps if a.name == target]
        found = exact or (named if len(named) == 1 else [])
        return found[0] if found else None

    def run_names(self, target: str | None) -> list[str]:
        credentials = self.credentials()
        host = credentials.host if credentials else None
        app = self.app(target) if target else None
        names: dict[str, None] = {}
        for entry in self.session.ledger.entries(limit=500):
            if not entry.run_name or entry.host not in (None, host):
                continue
            if (
                target
                and target not in (entry.target, entry.application_fqn)
                and (app is None or entry.application_id != app.id)
            ):
                continue
            names[entry.run_name] = None
        return list(names)


def _app_labels(apps: Sequence[Application], prefix: str) -> list[str]:
    """FQNs and (unique) names starting with ``prefix``: names first, as shorter."""
    counts: dict[str, int] = {}
    for app in apps:
        counts[app.name] = counts.get(app.name, 0) + 1
    names = sorted(a.name for a in apps if a.name and counts[a.name] == 1)
    fqns = sorted(a.fqn for a in apps if a.fqn)
    offered = names if ":" not in prefix else []
    return [label for label in [*offered, *fqns] if label.startswith(prefix)]


def _param_names(
    app: Application | None, prefix: str, given: Sequence[str], suffix: str
) -> list[str]:
    if app is None:
        return []
    taken = {word.partition("=")[0] for word in given}
    return [
        p.name + suffix for p in app.params if p.name.startswith(prefix) and p.name not in taken
    ]


def _flags(parser: argparse.ArgumentParser, prefix: str, used: set[str]) -> list[str]:
    offered: list[str] = []
    for action in flag_actions(parser):
        repeatable = action.nargs == "+" or isinstance(action.default, list)
        if action.dest in used and not repeatable:
            continue
        spellings = sorted(action.option_strings, key=lambda s: (not s.startswith("--"), s))
        offered += [s for s in spellings if s.startswith(prefix)]
    return offered


def _flag_values(action: argparse.Action, prefix: str, sources: _Sources) -> list[tuple[str, str]]:
    if action.dest == "app":
        return [(label, "application") for label in _app_labels(sources.apps(), prefix)]
    if action.dest == "application_id":
        return [(a.id, "application id") for a in sources.apps() if a.id.startswith(prefix)]
    if action.dest == "deployment_id":
        ids = [a.deployment_id for a in sources.apps() if a.deployment_id]
        return [(d, "deployment id") for d in ids if d.startswith(prefix)]
    if action.dest == "status":
        # Deferred: the models' dataclasses load at the first TAB that needs them.
        from jobmagic.models.jobs import RunStatus

        return [(s.value, "status") for s in RunStatus if s.value.startswith(prefix.upper())]
    return [(str(c), "value") for c in action.choices or () if str(c).startswith(prefix)]


def line_completions(context: LineContext, sources: _Sources) -> list[tuple[str, str]]:
    """(text, kind) pairs for the word at the cursor on a magic's line."""
    parser = parsers.PARSERS[context.magic]()
    reading = _read(parser, context.words)
    current = context.current
    value_wanted = reading.pending is not None and not (
        current.startswith("-") and reading.pending.nargs == "+"
    )
    if value_wanted and reading.pending is not None:
        return _flag_values(reading.pending, current, sources)
    if current.startswith("-"):
        return [(flag, "flag") for flag in _flags(parser, current, reading.used)]
    if "=" in current:
        return []  # a param's value: nothing to offer
    if context.magic == "trigger_job":
        return _target_or_params(context, reading.positionals, sources)
    if context.magic in _RUN_MAGICS:
        target = _flag_value([*context.words, *context.after], "--app")
        if not reading.positionals:
            names = sources.run_names(target)
            return [(name, "run") for name in names if name.startswith(current)]
        params = _param_names(sources.app(target), current, reading.positionals[1:], "=")
        return [(p, "param") for p in params]
    positionals = positional_actions(parser)
    if len(reading.positionals) < len(positionals):
        choices = positionals[len(reading.positionals)].choices or ()
        return [(str(c), "value") for c in choices if str(c).startswith(current)]
    return []


def _target_or_params(
    context: LineContext, positionals: Sequence[str], sources: _Sources
) -> list[tuple[str, str]]:
    target = next((w for w in positionals if "=" not in w), None)
    if target is None:
        return [(label, "application") for label in _app_labels(sources.apps(), context.current)]
    if context.cell:
        return []  # the cell form's params go in its body
    params = _param_names(sources.app(target), context.current, positionals, "=")
    return [(p, "param") for p in params]


def body_completions(
    first_line: str, body_before: Sequence[str], current: str, sources: _Sources
) -> list[tuple[str, str]]:
    """``name: `` for the declared params not yet in a ``%%trigger_job`` cell's body."""
    context = line_context(first_line + " ")
    if context is None or context.magic != "trigger_job" or not context.cell:
        return []
    parser = parsers.PARSERS["trigger_job"]()
    positionals = _read(parser, context.words).positionals
    target = positionals[0] if positionals else None
    given = [m.group(1) for line in body_before if (m := _BODY_KEY.match(line))]
    return [(p, "param") for p in _param_names(sources.app(target), current, given, ": ")]


# --- the application cache -------------------------------------------------------------


@dataclass
class _Entry:
    apps: list[Application]
    expires: float


class _Fetch:
    """One fetch in a daemon thread: a completion waits for it a bounded time, never more."""

    def __init__(self, key: Any, fetch: Callable[[], list[Application]]):
        self.key = key
        self.done = threading.Event()
        self.apps: list[Application] | None = None
        self._fetch = fetch
        threading.Thread(target=self._run, name="jobmagic-complete-apps", daemon=True).start()

    def _run(self) -> None:
        try:
            self.apps = self._fetch()
        except Exception:
            self.apps = None  # offline, bad token, odd answer: completion offers nothing
        finally:
            self.done.set()


class _AppCache:
    """The application list per host and token, fetched at most once per TTL."""

    def __init__(self, *, ttl: float, retry: float, wait: float):
        self.ttl = ttl
        self.retry = retry
        self.wait = wait
        self._lock = threading.Lock()
        self._entries: dict[Any, _Entry] = {}
        self._fetch: _Fetch | None = None

    def get(self, key: Any, fetch: Callable[[], list[Application]]) -> list[Application]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() < entry.expires:
                return entry.apps
            if self._fetch is None or self._fetch.key != key:
                self._fetch = _Fetch(key, fetch)
            running = self._fetch
        running.done.wait(self.wait)
        with self._lock:
            if running.done.is_set() and self._fetch is running:
                self._fetch = None
                ok = running.apps is not None
                stale = entry.apps if entry is not None else []
                self._entries[key] = _Entry(
                    apps=running.apps if running.apps is not None else stale,
                    expires=time.monotonic() + (self.ttl if ok else self.retry),
                )
            current = self._entries.get(key)
        return current.apps if current is not None else []

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _fetch_apps(credentials: Credentials, verify: bool | str) -> list[Application]:
    """One page of jobs from ``GET /apps``, with a short timeout and no retries."""
    import httpx

    from jobmagic.api import JobsClient, RetryPolicy
    from jobmagic.api.endpoints import MAX_PAGE_SIZE

    with JobsClient(
        credentials=credentials,
        timeout=httpx.Timeout(REQUEST_TIMEOUT),
        verify=verify,
        retry=RetryPolicy(max_attempts=1),
    ) as client:
        return client.list_apps(limit=MAX_PAGE_SIZE)


# --- the matcher -------------------------------------------------------------------------


class JobCompleter:
    """An IPython matcher (API v2) for jobmagic's magics; one per shell.

    >>> shell.Completer.custom_matchers.append(JobCompleter(session).matcher)  # doctest: +SKIP
    """

    def __init__(
        self,
        session: JobSession | Callable[[], JobSession],
        *,
        ttl: float = APPS_TTL,
        retry: float = RETRY_SECONDS,
        wait: float = WAIT_SECONDS,
    ):
        self.apps = _AppCache(ttl=ttl, retry=retry, wait=wait)
        self.sources = _Sources(session, self.apps)

    # Before the file and Python matchers, whose guesses are noise after a magic.
    @context_matcher(identifier="jobmagic", priority=1.0)
    def matcher(self, context: CompletionContext) -> SimpleMatcherResult:
        """The matcher IPython calls with the cell and the cursor."""
        try:
            fragment, found = self.complete(
                context.full_text, context.cursor_line, context.cursor_position
            )
        except Exception:
            # Completion must never raise into the kernel: IPython would print a traceback
            # at every TAB. Nothing offered is the honest answer.
            fragment, found = context.token, []
        return SimpleMatcherResult(
            completions=[SimpleCompletion(text, type=kind) for text, kind in found],
            matched_fragment=fragment,
            suppress=bool(found),
            do_not_suppress=set(),
            ordered=True,
        )

    def complete(self, text: str, line: int, column: int) -> tuple[str, list[tuple[str, str]]]:
        """The fragment before the cursor to replace, and (text, kind) completions for it."""
        lines = text.split("\n")
        current_line = lines[line] if line < len(lines) else ""
        before, after = current_line[:column], current_line[column:]
        python = _PYTHON_TARGET.search(before)
        if python:
            prefix = python.group(1)
            apps = _app_labels(self.sources.apps(), prefix)
            return prefix, [(label, "application") for label in apps]
        context = line_context(before, after)
        if context is not None:
            return context.current, line_completions(context, self.sources)
        body = _BODY_NAME.match(before)
        if line > 0 and body:
            current = body.group(1) or ""
            return current, body_completions(lines[0], lines[1:line], current, self.sources)
        return "", []


def install(shell: Any, session: JobSession | Callable[[], JobSession]) -> JobCompleter:
    """Add a :class:`JobCompleter` for ``session`` to ``shell``'s completer."""
    completer = JobCompleter(session)
    shell.Completer.custom_matchers.append(completer.matcher)
    return completer


def uninstall(shell: Any) -> None:
    """Remove jobmagic's matchers from ``shell``'s completer: every :class:`JobCompleter`'s,
    and the stand-in ``%load_ext`` installs until the first TAB (it takes their identifier)."""
    identifier = JobCompleter.matcher.matcher_identifier
    matchers = shell.Completer.custom_matchers
    matchers[:] = [m for m in matchers if getattr(m, "matcher_identifier", None) != identifier]
