"""How soon does the Runs panel show its first run, with a 100,000-run ledger?

Real JupyterLab serves the built extension and the server extension (as
``tests/browser/test_runs_panel.py`` does) over a ledger of N settled runs
(``bench_serverext.write_ledger``); headless Chromium, driven by Playwright, clicks the
panel's sidebar tab. The time is measured in the page: from the click's ``pointerdown`` to
the first animation frame in which a run row of the panel is visible (``checkVisibility``),
for

(a) a warm page: Lab loaded and settled, the panel's store has read its first page;
(b) as Lab loads: the tab pressed by the page itself in the first frame it is laid out, the
    earliest any click could come (the extension's first read may still be under way; the
    note says in how many trials it was).

The baseline is what the panel cannot beat: the page's own ``fetch`` of
``GET jobmagic/runs?limit=50`` (its first page), timed in the same page, same run.
Each figure is the median of ``--trials`` trials (a fresh page load each).

    python benchmarks/bench_runs_panel.py [--n 100000] [--trials 5] [--quick]

Needs Chromium, Playwright and the built extension (``make labextension``); where one is
missing it says so and gives no row (``unavailable()``). Exits non-zero only on an error,
never because something is slow.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import Row, make_row, median
from bench_serverext import write_ledger

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser.lab_support import (  # noqa: E402
    BUILT_LABEXTENSION,
    Lab,
    browser_missing_reason,
    chromium_page,
    enable_jobmagic,
)

#: The issue's bound: the first row visible this soon after the tab is activated.
TARGET_S = 0.3
TAB = ".lm-TabBar-tab[data-id='jobmagic-runs']"

#: Armed before Lab's own scripts (an init script): when the tab appeared, the first
#: pointerdown on it (t0) and the first frame showing a row of the panel (t1). With
#: ``jmbench-early`` in the URL it presses the tab itself, in the first frame the tab is laid
#: out (as Lumino's tab bar takes a press: pointerdown on the tab, pointerup on the
#: document): the earliest any click could come.
_ARM_JS = r"""(() => {
  const mark = (window.__jmBench = {});
  const early = new URLSearchParams(location.search).has('jmbench-early');
  window.addEventListener('pointerdown', event => {
    if (mark.t0 === undefined && event.target.closest?.(TAB_SELECTOR)) {
      mark.t0 = performance.now();
    }
  }, true);
  const press = tab => {
    const box = tab.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) { return; }
    const at = {
      bubbles: true, cancelable: true, composed: true, button: 0, buttons: 1,
      clientX: box.x + box.width / 2, clientY: box.y + box.height / 2,
      pointerId: 1, isPrimary: true, pointerType: 'mouse'
    };
    tab.dispatchEvent(new PointerEvent('pointerdown', at));
    document.dispatchEvent(new PointerEvent('pointerup', { ...at, buttons: 0 }));
  };
  const check = () => {
    const tab = document.querySelector(TAB_SELECTOR);
    if (tab && mark.tab === undefined) { mark.tab = performance.now(); }
    if (tab && early && mark.t0 === undefined) { press(tab); }
    const row = document.querySelector('#jobmagic-runs .jobmagic-run-row');
    if (mark.t0 !== undefined && row && row.checkVisibility()) {
      mark.t1 = performance.now();
      return;
    }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();""".replace("TAB_SELECTOR", json.dumps(TAB))

#: When the panel's first page (GET jobmagic/runs?limit=50 and a cache-busting number; its
#: live runs are read before it) had been answered, from the Performance API.
_ANSWERED_JS = r"""() => performance.getEntriesByType('resource')
  .filter(entry => /\/jobmagic\/runs\?limit=50(&\d+)?$/.test(entry.name))[0].responseEnd"""

_FETCH_JS = """async token => {
  const started = performance.now();
  const answer = await fetch('/jobmagic/runs?limit=50', {
    headers: { Authorization: 'token ' + token }
  });
  const body = await answer.json();
  if (!answer.ok || body.runs.length !== 50) { throw new Error('GET jobmagic/runs failed'); }
  return performance.now() - started;
}"""


def unavailable() -> str | None:
    """Why this benchmark cannot run here (no browser, no built extension), or None."""
    missing = browser_missing_reason()
    if missing:
        return missing
    if not (BUILT_LABEXTENSION / "package.json").exists():
        return "the Lab extension is not built (it needs Node 20): make labextension"
    return None


def _first_row_s(page: Any, lab: Lab, *, warm: bool) -> tuple[float, bool, float]:
    """One page load, then the tab pressed: warm, clicked by Playwright once the panel has
    rendered its first page (hidden) and the page is idle; cold, pressed by the page itself
    in the first frame the tab is laid out. The seconds to the first row, whether the
    panel's first page was still being read at the press, and the seconds from the tab's
    appearing to the press."""
    early = "" if warm else "&jmbench-early"
    page.goto(f"{lab.base}/lab?token={lab.token}&reset{early}")
    if warm:
        page.locator(TAB).wait_for(timeout=120_000)
        page.locator("#jobmagic-runs .jobmagic-run-row").first.wait_for(
            state="attached", timeout=60_000
        )
        page.wait_for_load_state("networkidle")
        page.locator(TAB).click()
    page.wait_for_function("() => window.__jmBench.t1 !== undefined", timeout=120_000)
    mark = page.evaluate("() => window.__jmBench")
    pending = page.evaluate(_ANSWERED_JS) > mark["t0"]
    return (mark["t1"] - mark["t0"]) / 1000, pending, (mark["t0"] - mark["tab"]) / 1000


def _fetch_s(page: Any, lab: Lab) -> float:
    return float(page.evaluate(_FETCH_JS, lab.token)) / 1000


def measure(folder: Path, n: int, trials: int) -> dict[str, list[float]]:
    """The warm and cold times and the baseline's, ``trials`` of each (and, per cold
    trial, 1.0 where the page's first read was still under way at the click, and the
    delay from the tab's appearing to the click)."""
    home = folder / "jm-home"
    home.mkdir()
    write_ledger(home / "ledger.sqlite3", n)
    root = folder / "root"
    root.mkdir()
    scratch = folder / "lab"
    enable_jobmagic(scratch)
    env = {"HOME": str(folder / "home"), "JOBMAGIC_HOME": str(home)}
    times: dict[str, list[float]] = {
        "warm": [],
        "cold": [],
        "fetch": [],
        "pending": [],
        "delay": [],
    }
    with Lab(root, scratch, env) as lab, chromium_page((1280, 800)) as page:
        page.add_init_script(_ARM_JS)
        _first_row_s(page, lab, warm=True)  # warm-up: Lab's bundles into the cache
        for _ in range(trials):
            cold, pending, delay = _first_row_s(page, lab, warm=False)
            times["cold"].append(cold)
            times["pending"].append(float(pending))
            times["delay"].append(delay)
            times["warm"].append(_first_row_s(page, lab, warm=True)[0])
            _fetch_s(page, lab)  # the first fetch of a page pays for its connection
            times["fetch"].append(median([_fetch_s(page, lab) for _ in range(3)]))
    return times


def run(quick: bool = False, *, n: int | None = None, trials: int | None = None) -> list[Row]:
    """The benchmark's rows: the first row on a warm page and on a cold one."""
    reason = unavailable()
    if reason:
        print(f"bench_runs_panel: skipped: {reason}")
        return []
    n = n if n is not None else (2_000 if quick else 100_000)
    trials = trials if trials is not None else (1 if quick else 5)
    with tempfile.TemporaryDirectory() as folder:
        times = measure(Path(folder), n, trials)
    base = median(times["fetch"])
    target = f"≤ {TARGET_S * 1000:g} ms"
    what = f"Runs panel, {n:,} runs: first row visible after its tab is clicked"
    return [
        make_row(
            f"{what}, warm page (vs the page's GET jobmagic/runs?limit=50)",
            median(times["warm"]),
            base,
            target,
        ),
        make_row(
            f"{what}, as Lab loads (vs the page's GET jobmagic/runs?limit=50)",
            median(times["cold"]),
            base,
            target,
            note=f"pressed {median(times['delay']) * 1000:.0f} ms after the tab appeared; "
            f"the panel's first page was still being read then in "
            f"{sum(times['pending']):.0f} of {trials} trials",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="runs in the ledger (100,000)")
    parser.add_argument("--trials", type=int, default=None, help="trials (5)")
    parser.add_argument("--quick", action="store_true", help="a tiny ledger, one trial")
    args = parser.parse_args(argv)
    for row in run(args.quick, n=args.n, trials=args.trials):
        print(
            f"{row['what']}\n    jobmagic {row['jobmagic_s'] * 1000:.1f} ms  baseline "
            f"{row['baseline_s'] * 1000:.1f} ms  ratio {row['ratio']:.2f}x  "
            f"target {row['target']}" + (f"\n    {row['note']}" if row.get("note") else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
