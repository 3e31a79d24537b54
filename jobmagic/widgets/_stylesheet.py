"""The one stylesheet of every jobmagic view, live or saved, scoped to jobmagic's own classes.

>>> "jobmagic-badge" in stylesheet() and style_block().startswith("<style>")
True
"""

from __future__ import annotations

__all__ = ["LIVE_CLASS", "TWIN_CLASS", "style_block", "stylesheet", "twin_rules"]

#: The class of a view's static copy shown as the first of its twin outputs
#: (:mod:`jobmagic.widgets.live`), and the class of the root of its widget once rendered.
TWIN_CLASS = "jobmagic-twin"
LIVE_CLASS = "jobmagic-live"

# Every rule is scoped under one of jobmagic's own root classes, so nothing
# leaks into the rest of the notebook.
_ROOTS = (".jobmagic-card", ".jobmagic-snapshot", ".jobmagic-board", ".jobmagic-form")
# Where a page says it is dark but may not define JupyterLab's variables.
_DARK = (
    '[data-jp-theme-light="false"]',
    "body.vscode-dark",
    'html[theme="dark"]',
    'body[data-theme="dark"]',
)

_LIGHT_VARS = """
  --jm-fg: var(--jp-content-font-color1, rgba(0, 0, 0, 0.87));
  --jm-muted: var(--jp-content-font-color2, rgba(0, 0, 0, 0.6));
  --jm-border: var(--jp-border-color2, #e0e0e0);
  --jm-bg-alt: var(--jp-layout-color2, #f3f3f3);
  --jm-link: var(--jp-content-link-color, #1565c0);
  --jm-queued-bg: var(--jp-layout-color3, #cfd8dc);
  --jm-queued-fg: var(--jp-ui-font-color1, #263238);
  --jm-running: var(--jp-brand-color1, #1976d2);
  --jm-finished: var(--jp-success-color1, #2e7d32);
  --jm-failed: var(--jp-error-color1, #c62828);
  --jm-warn: var(--jp-warn-color1, #ef6c00);
  --jm-warn-text: var(--jp-warn-color0, #bf360c);
  --jm-error-text: var(--jp-error-color1, #c62828);
"""

_DARK_VARS = """
  --jm-fg: var(--jp-content-font-color1, rgba(255, 255, 255, 0.87));
  --jm-muted: var(--jp-content-font-color2, rgba(255, 255, 255, 0.6));
  --jm-border: var(--jp-border-color2, #454545);
  --jm-bg-alt: var(--jp-layout-color2, #2a2a2a);
  --jm-link: var(--jp-content-link-color, #64b5f6);
  --jm-queued-bg: var(--jp-layout-color3, #546e7a);
  --jm-queued-fg: var(--jp-ui-font-color1, #eceff1);
  --jm-running: var(--jp-brand-color1, #1e88e5);
  --jm-finished: var(--jp-success-color1, #388e3c);
  --jm-failed: var(--jp-error-color1, #e53935);
  --jm-warn: var(--jp-warn-color1, #fb8c00);
  --jm-warn-text: var(--jp-warn-color0, #ffb74d);
  --jm-error-text: var(--jp-error-color1, #ef9a9a);
"""

# ``&`` stands for each root class; see _expand.
_RULES: tuple[tuple[str, str], ...] = (
    (
        "&",
        "color: var(--jm-fg); font-family: var(--jp-ui-font-family, system-ui, -apple-system, "
        "'Segoe UI', Roboto, sans-serif); font-size: var(--jp-ui-font-size1, 13px); "
        "line-height: 1.45;",
    ),
    (
        ".jobmagic-card, .jobmagic-snapshot",
        "border: 1px solid var(--jm-border); border-radius: 4px; padding: 8px 12px; "
        "margin: 2px 0; box-sizing: border-box; max-width: 60em;",
    ),
    (".jobmagic-snapshot", "display: block;"),
    ("& .jobmagic-head", "display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px;"),
    (
        "& .jobmagic-name, & .jobmagic-name-text",
        "font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace);"
        " font-weight: 600; user-select: text; -webkit-user-select: text; cursor: text;",
    ),
    (
        "& .jobmagic-badge",
        "display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 11px; "
        "font-weight: 600; line-height: 18px; letter-spacing: 0.02em; white-space: nowrap; "
        "border: 1px solid transparent; vertical-align: middle;",
    ),
    (
        "& .jobmagic-badge-queued",
        "background: var(--jm-queued-bg); color: var(--jm-queued-fg);",
    ),
    ("& .jobmagic-badge-running", "background: var(--jm-running); color: #fff;"),
    ("& .jobmagic-badge-finished", "background: var(--jm-finished); color: #fff;"),
    ("& .jobmagic-badge-failed", "background: var(--jm-failed); color: #fff;"),
    ("& .jobmagic-badge-terminating", "background: var(--jm-warn); color: #1a1a1a;"),
    (
        "& .jobmagic-badge-terminated",
        "background: transparent; border-color: var(--jm-warn); color: var(--jm-warn-text);",
    ),
    (
        "& .jobmagic-badge-unknown",
        "background: transparent; border: 1px dashed var(--jm-muted); color: var(--jm-muted);",
    ),
    (
        "& table.jobmagic-kv",
        "border-collapse: collapse; border: none; margin: 4px 0; table-layout: auto; "
        "font-size: inherit; color: var(--jm-fg); line-height: 1.45;",
    ),
    (
        "& table.jobmagic-kv tr, & table.jobmagic-kv tr:hover, "
        "& table.jobmagic-board-table tr, & table.jobmagic-board-table tr:hover",
        "background: transparent;",
    ),
    (
        "& table.jobmagic-kv th",
        "text-align: left; font-weight: normal; color: var(--jm-muted); "
        "padding: 1px 14px 1px 0; vertical-align: top; border: none; white-space: nowrap; "
        "font-size: inherit;",
    ),
    (
        "& table.jobmagic-kv td",
        "text-align: left; padding: 1px 0; vertical-align: top; border: none; "
        "color: var(--jm-fg); font-size: inherit; "
        "user-select: text; -webkit-user-select: text; max-width: none;",
    ),
    (
        "& table.jobmagic-params-table td, & table.jobmagic-params-table th",
        "font-family: var(--jp-code-font-family, ui-monospace, Menlo, monospace); font-size: 12px;",
    ),
    (
        "& .jobmagic-section",
        "font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; "
        "color: var(--jm-muted); margin-top: 6px;",
    ),
    (
        "& .jobmagic-error-text",
        "color: var(--jm-error-text); border-left: 3px solid var(--jm-failed); "
        "background: rgba(211, 47, 47, 0.08); padding: 4px 8px; margin: 6px 0; "
        "white-space: pre-wrap; word-break: break-word; user-select: text; "
        "font-family: var(--jp-code-font-family, ui-monospace, Menlo, monospace); "
        "font-size: 12px;",
    ),
    (
        "& a.jobmagic-link, & .jobmagic-link a",
        "color: var(--jm-link); text-decoration: none;",
    ),
    ("& a.jobmagic-link:hover, & .jobmagic-link a:hover", "text-decoration: underline;"),
    (
        "& .jobmagic-stale, & .jobmagic-stale-text",
        "color: var(--jm-warn-text); font-style: italic; font-size: 12px;",
    ),
    ("& .jobmagic-muted", "color: var(--jm-muted);"),
    ("& .jobmagic-run-label", "color: var(--jm-muted); font-size: 0.85em; font-style: italic;"),
    # Labels for readers without this stylesheet (JupyterLab strips <style> from untrusted
    # outputs; GitHub does too): hidden where it applies, read as plain text where not.
    ("& .jobmagic-plain", "display: none;"),
    ("& .jobmagic-message-error", "color: var(--jm-error-text);"),
    ("& .jobmagic-message-ok", "color: var(--jm-muted);"),
    (
        # column-reverse starts the scroll area at its bottom: the newest lines show first,
        # without JavaScript.
        "& .jobmagic-log-scroll",
        "max-height: 22em; overflow: auto; display: flex; flex-direction: column-reverse; "
        "margin: 4px 0; border-radius: 3px; background: var(--jm-bg-alt);",
    ),
    (
        "& pre.jobmagic-log-lines",
        # No scrolling of its own (JupyterLab gives every <pre> overflow: auto): the
        # wrapper scrolls.
        "margin: 0; padding: 6px 8px; overflow: visible; flex-shrink: 0; "
        "background: var(--jm-bg-alt); color: var(--jm-fg); border-radius: 3px; "
        "font-family: var(--jp-code-font-family, ui-monospace, Menlo, monospace); "
        "font-size: 12px; line-height: 1.35; white-space: pre-wrap; word-break: break-all;",
    ),
    ("& .jobmagic-log-stderr", "color: var(--jm-error-text);"),
    ("& .jobmagic-logs-details", "margin-top: 6px;"),
    ("& .jobmagic-logs-details > summary", "cursor: pointer;"),
    (
        "& table.jobmagic-events-table",
        "border-collapse: collapse; border: none; margin: 2px 0 6px; font-size: 12px;",
    ),
    (
        "& table.jobmagic-events-table td",
        "text-align: left; padding: 1px 10px 1px 0; border: none; vertical-align: top; "
        "color: var(--jm-fg); user-select: text; -webkit-user-select: text;",
    ),
    ("& table.jobmagic-events-table td.jobmagic-event-time", "color: var(--jm-muted);"),
    ("& table.jobmagic-events-table td.jobmagic-event-reason", "font-weight: 600;"),
    ("& tr.jobmagic-event-warning td.jobmagic-event-reason", "color: var(--jm-error-text);"),
    ("& .jobmagic-board-counts", "font-weight: 600; margin: 2px 0 6px;"),
    (
        "& .jobmagic-board-scroll",
        "max-height: 26em; overflow: auto; border: 1px solid var(--jm-border); border-radius: 4px;",
    ),
    (
        "& table.jobmagic-board-table",
        # auto, not JupyterLab's (and nbconvert's) fixed layout for output tables: that one
        # gave every column an equal share and cut the params to "lr=0.1 epoc…" with room to
        # spare.
        "border-collapse: collapse; border: none; width: 100%; font-size: 12px; margin: 0; "
        "line-height: 1.45; table-layout: auto;",
    ),
    (
        "& table.jobmagic-board-table th",
        "position: sticky; top: 0; background: var(--jp-layout-color1, inherit); "
        "text-align: left; font-weight: 600; color: var(--jm-muted); "
        "padding: 3px 10px; border: none; border-bottom: 1px solid var(--jm-border);",
    ),
    (
        "& table.jobmagic-board-table td",
        "text-align: left; padding: 2px 10px; border: none; white-space: nowrap; "
        "vertical-align: middle; color: var(--jm-fg);",
    ),
    (
        "& table.jobmagic-board-table td.jobmagic-col-params",
        "font-family: var(--jp-code-font-family, ui-monospace, Menlo, monospace); "
        "max-width: 32em; overflow: hidden; text-overflow: ellipsis;",
    ),
    ("& .jobmagic-form-title", "font-weight: 600; margin-bottom: 4px;"),
    (".jobmagic-form", "border: 1px solid var(--jm-border); border-radius: 4px; padding: 8px;"),
)


def _expand(selector: str, prefix: str = "") -> str:
    """``& .x`` → ``.jobmagic-card .x, .jobmagic-snapshot .x, …`` (with an optional prefix)."""
    out: list[str] = []
    for part in selector.split(","):
        part = part.strip()
        if "&" in part:
            out.extend(prefix + part.replace("&", root) for root in _ROOTS)
        else:
            out.append(prefix + part)
    return ", ".join(out)


def twin_rules() -> str:
    """The two rules that choose between a view's twin outputs: its static copy, then its
    widget output (JupyterLab's, Notebook 7's and nbconvert's ``jp-OutputArea-child`` rows).

    While the widget is rendered (its root carries ``jobmagic-live``), the copy before it is
    hidden; where it is not (a notebook reopened without its kernel: "model not found",
    "Loading widget…", an export), the widget's row is hidden and the copy shows. Only the
    copy's direct content counts as a copy: a view's copy nested in another's widget is not.

    >>> "jobmagic-twin" in twin_rules() and "jobmagic-live" in twin_rules()
    True
    """
    row = ".jp-OutputArea-child"
    twin = f"{row}:has(> .jp-OutputArea-output > .{TWIN_CLASS})"
    return (
        f"{twin} + {row}:not(:has(.{LIVE_CLASS})) {{ display: none; }}\n"
        f"{twin}:has(+ {row} .{LIVE_CLASS}) {{ display: none; }}"
    )


def stylesheet() -> str:
    """The CSS shared by cards, boards, forms and snapshots; every rule is scoped (to
    jobmagic's classes, or to its twin outputs: :func:`twin_rules`)."""
    roots = ", ".join(_ROOTS)
    dark_roots = ", ".join(f"{dark} {root}" for dark in _DARK for root in _ROOTS)
    lines = [f"{roots} {{{_LIGHT_VARS}}}", f"{dark_roots} {{{_DARK_VARS}}}"]
    lines += [f"{_expand(selector)} {{ {body} }}" for selector, body in _RULES]
    lines.append(twin_rules())
    return "\n".join(lines)


_STYLE_BLOCK = f"<style>\n{stylesheet()}\n</style>"


def style_block() -> str:
    """``<style>…</style>`` with :func:`stylesheet`; the same text every time (idempotent)."""
    return _STYLE_BLOCK
