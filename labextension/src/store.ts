/**
 * One poller for the whole page: the panel, the status bar and the notices read from it, so
 * however many views are open the server gets one request per tick.
 *
 * Each tick reads the live runs (for the status bar and to see runs end), the details of runs
 * that left the live list, and, while the panel is on screen, the page it shows.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { RunsApi, RunsApiError } from './api';
import {
  EMPTY_FILTER,
  IRun,
  IRunFilter,
  IRunsPage,
  LIVE_STATUSES,
  liveChange,
  pollDelay
} from './model';

/** Runs per page of the panel: the browser holds one page. */
export const PAGE_SIZE = 50;
/** Live runs read per tick; more than this many live at once are counted, not listed. */
const LIVE_LIMIT = 500;

export class RunsStore {
  constructor(readonly api: RunsApi) {}

  /** The panel's page changed (or failed: see `error`). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The number of live runs changed. */
  get liveChanged(): ISignal<this, number> {
    return this._liveChanged;
  }

  /** A run seen live by this page has ended (its final row). */
  get runEnded(): ISignal<this, IRun> {
    return this._runEnded;
  }

  get page(): IRunsPage | null {
    return this._page;
  }

  get error(): RunsApiError | null {
    return this._error;
  }

  get liveCount(): number {
    return this._liveCount;
  }

  get filter(): IRunFilter {
    return this._filter;
  }

  get offset(): number {
    return this._offset;
  }

  /** When the page was last read (ms since the epoch), for "updated … ago". */
  get updatedAt(): number | null {
    return this._updatedAt;
  }

  /** Whether the panel is on screen: it is read only then, and polls back off slower. */
  set visible(value: boolean) {
    if (value === this._visible) {
      return;
    }
    this._visible = value;
    if (value) {
      this.refresh();
    }
  }

  get visible(): boolean {
    return this._visible;
  }

  setFilter(filter: IRunFilter): void {
    this._filter = { ...filter };
    this._offset = 0;
    this.refresh();
  }

  setOffset(offset: number): void {
    this._offset = Math.max(0, offset);
    this.refresh();
  }

  /** Starts polling (the first tick now). */
  start(): void {
    if (!this._started) {
      this._started = true;
      this.refresh();
    }
  }

  /** Polls now, then on the usual schedule; a tick already under way runs once more. */
  refresh(): void {
    if (this._disposed || !this._started) {
      return;
    }
    this._quiet = 0;
    if (this._ticking) {
      this._again = true;
      return;
    }
    window.clearTimeout(this._timer);
    void this._tick();
  }

  dispose(): void {
    this._disposed = true;
    window.clearTimeout(this._timer);
    Signal.clearData(this);
  }

  private async _tick(): Promise<void> {
    this._ticking = true;
    let changed = false;
    try {
      changed = await this._readLive();
      // The first page is read once up front too, so the panel has rows the moment its
      // tab is first opened; after that, only while it is on screen.
      if (this._visible || this._page === null) {
        await this._readPage();
      }
      this._failures = 0;
    } catch (error) {
      this._failures += 1;
      this._error = asApiError(error);
      this._changed.emit();
    } finally {
      this._ticking = false;
    }
    this._quiet = this._liveCount > 0 || changed ? 0 : this._quiet + 1;
    if (this._disposed) {
      return;
    }
    if (this._again) {
      this._again = false;
      void this._tick();
      return;
    }
    const delay = pollDelay({
      live: this._liveCount,
      visible: this._visible,
      quiet: this._quiet,
      failures: this._failures
    });
    this._timer = window.setTimeout(() => void this._tick(), delay);
  }

  /** Reads the live runs and tells of those that ended; true when anything changed. */
  private async _readLive(): Promise<boolean> {
    const liveFilter = { ...EMPTY_FILTER, status: LIVE_STATUSES.join(',') };
    const answer = await this.api.page(liveFilter, 0, LIVE_LIMIT);
    const runs = [...answer.runs];
    const listed = new Set(runs.map(run => run.id));
    // Runs live last time and not listed now: most have ended; their details say how.
    const gone = [...this._live.keys()].filter(id => !listed.has(id));
    const details = await Promise.all(gone.map(id => this.api.run(id).catch(() => null)));
    for (const run of details) {
      if (run) {
        runs.push(run);
      }
    }
    const change = liveChange(this._live, runs);
    // Beyond the first page of live runs the list says nothing: keep what was known.
    for (const id of change.vanished) {
      const known = this._live.get(id);
      if (known && answer.total > LIVE_LIMIT) {
        change.live.set(id, known);
      }
    }
    this._live = change.live;
    for (const run of change.ended) {
      this._runEnded.emit(run);
    }
    const count = answer.total;
    const countChanged = count !== this._liveCount;
    if (countChanged) {
      this._liveCount = count;
      this._liveChanged.emit(count);
    }
    return countChanged || change.ended.length > 0;
  }

  private async _readPage(): Promise<void> {
    const page = await this.api.page(this._filter, this._offset, PAGE_SIZE);
    this._page = page;
    this._error = null;
    this._updatedAt = Date.now();
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
  private _liveChanged = new Signal<this, number>(this);
  private _runEnded = new Signal<this, IRun>(this);
  private _page: IRunsPage | null = null;
  private _error: RunsApiError | null = null;
  private _filter: IRunFilter = { ...EMPTY_FILTER };
  private _offset = 0;
  private _live = new Map<number, IRun>();
  private _liveCount = 0;
  private _visible = false;
  private _started = false;
  private _disposed = false;
  private _ticking = false;
  private _again = false;
  private _quiet = 0;
  private _failures = 0;
  private _timer = 0;
  private _updatedAt: number | null = null;
}

function asApiError(error: unknown): RunsApiError {
  return error instanceof RunsApiError ? error : new RunsApiError(String(error), 0);
}
