/**
 * The Runs panel's vocabulary and its pure parts: statuses, times, grouping, what ended
 * between two polls, when to poll next. Nothing here touches the DOM or the network, so
 * Jest tests it directly (src/__tests__/model.spec.ts).
 *
 * The formats follow jobmagic's Python side (jobmagic/models/formatting.py), so a run reads
 * the same in a card and in the panel.
 */

/** A run's objective: which metric, which way is better, and its latest value. */
export interface IObjective {
  metric: string;
  goal: string;
  value: number | null;
}

/** One run as `GET jobmagic/runs` lists it (jobmagic/serverext/runs_json.py). */
export interface IRun {
  id: number;
  name: string | null;
  status: string;
  state: string;
  application: string | null;
  application_id: string | null;
  host: string | null;
  sweep: string | null;
  /** The kernel's notebook: a path in the list; `{path, in_root}` in the details. */
  notebook: string | INotebookPlace | null;
  /** The run this one repeats (its run name). */
  rerun_of: string | number | null;
  params: Record<string, string>;
  created_at: string | null;
  ended_at: string | null;
  exit_code: number | null;
  error: string | null;
  /** The server's duration in seconds, where it knows one. */
  duration?: number | null;
  live?: boolean;
  metrics?: Record<string, number | null> | null;
  objective?: IObjective | null;
  /** False when the server could not refresh the run (no credentials for its host). */
  refreshed?: boolean | null;
  /** Details only: each metric's history, oldest first. */
  history?: Record<string, (number | null)[]> | null;
  /** Details only: why the history could not be read. */
  history_error?: string | null;
  command?: string | null;
}

/** Where a run's notebook is: relative to the server's root when `in_root`. */
export interface INotebookPlace {
  path: string;
  in_root: boolean;
}

/** A page of runs: newest first, `total` and `counts` over the whole filter. */
export interface IRunsPage {
  runs: IRun[];
  total: number;
  counts: Record<string, number>;
  notice?: string | null;
}

/** What the panel's filter asks for; empty strings mean "any". */
export interface IRunFilter {
  /** A status, `LIVE` for every live one, or `` for all. */
  status: string;
  job: string;
  sweep: string;
  text: string;
}

export const EMPTY_FILTER: IRunFilter = { status: '', job: '', sweep: '', text: '' };

/** Statuses of a run that can still change (what the server refreshes). */
export const LIVE_STATUSES: readonly string[] = [
  'CREATED',
  'SCHEDULED',
  'RUNNING',
  'TERMINATION_REQUESTED',
  'TERMINATING'
];

/** Statuses a run never leaves. */
export const TERMINAL_STATUSES: readonly string[] = ['FINISHED', 'FAILED', 'TERMINATED'];

/** Every status the filter offers, in the cards' order. */
export const FILTER_STATUSES: readonly string[] = [...LIVE_STATUSES, ...TERMINAL_STATUSES];

/** The visual state of a status: the cards' badge classes (`jobmagic-badge-<kind>`). */
export type StatusKind =
  'queued' | 'running' | 'finished' | 'failed' | 'terminating' | 'terminated' | 'unknown';

const KIND_OF: Record<string, StatusKind> = {
  CREATED: 'queued',
  SCHEDULED: 'queued',
  PENDING: 'queued',
  RUNNING: 'running',
  FINISHED: 'finished',
  FAILED: 'failed',
  TERMINATION_REQUESTED: 'terminating',
  TERMINATING: 'terminating',
  TERMINATED: 'terminated'
};

/** `statusKind('RUNNING') === 'running'`; anything never heard of is `unknown`. */
export function statusKind(status: string | null | undefined): StatusKind {
  return (status && KIND_OF[status.toUpperCase()]) || 'unknown';
}

export function isLive(status: string | null | undefined): boolean {
  return !!status && LIVE_STATUSES.includes(status.toUpperCase());
}

export function isTerminal(status: string | null | undefined): boolean {
  return !!status && TERMINAL_STATUSES.includes(status.toUpperCase());
}

/** `FAILED` → `Failed`, `TERMINATION_REQUESTED` → `Termination requested`. */
export function statusLabel(status: string | null | undefined): string {
  if (!status) {
    return 'Unknown';
  }
  const words = status.toLowerCase().replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Shown where a value is not known (yet), as in the cards. */
export const MISSING = '—';

function pad2(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

/**
 * `12.3 s` under a minute, then `1m 05s`, `2h 03m 04s`, `1d 02h 03m`: the cards' format.
 */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) {
    return MISSING;
  }
  const clamped = Math.max(0, seconds);
  if (clamped < 60) {
    // One decimal, but never round 59.96 up to "60.0 s".
    return `${Math.min(clamped, 59.9).toFixed(1)} s`;
  }
  const whole = Math.floor(clamped);
  const days = Math.floor(whole / 86400);
  const hours = Math.floor((whole % 86400) / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = whole % 60;
  if (days) {
    return `${days}d ${pad2(hours)}h ${pad2(minutes)}m`;
  }
  if (hours) {
    return `${hours}h ${pad2(minutes)}m ${pad2(secs)}s`;
  }
  return `${minutes}m ${pad2(secs)}s`;
}

/** Milliseconds since the epoch of an ISO time from the server, or null. */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) {
    return null;
  }
  // The server writes UTC with a `Z`; a bare time is UTC too, never the browser's zone.
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`;
  const value = Date.parse(text);
  return Number.isNaN(value) ? null : value;
}

/** `just now`, `42 s ago`, `3 min ago`, `2 h ago`, `3 d ago` (`in …` if ahead). */
export function formatRelative(when: number | null, now: number): string {
  if (when === null) {
    return '';
  }
  const delta = (now - when) / 1000;
  const ahead = delta < 0;
  const size = Math.abs(delta);
  // Clocks of browser and server differ by a little; that is still "now".
  if (size < 5) {
    return 'just now';
  }
  let amount: string;
  if (size < 60) {
    amount = `${Math.floor(size)} s`;
  } else if (size < 3600) {
    amount = `${Math.floor(size / 60)} min`;
  } else if (size < 86400) {
    amount = `${Math.floor(size / 3600)} h`;
  } else {
    amount = `${Math.floor(size / 86400)} d`;
  }
  return ahead ? `in ${amount}` : `${amount} ago`;
}

/** A local time: `2026-12-07 14:03:12` (the cards' format), or `—`. */
export function formatLocalTime(when: number | null): string {
  if (when === null) {
    return MISSING;
  }
  const d = new Date(when);
  const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  return `${date} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Seconds from a run's creation to its end (or to `now` while it is live), or null. */
export function runDuration(run: IRun, now: number): number | null {
  const start = parseTime(run.created_at);
  if (start === null) {
    return null;
  }
  const end = parseTime(run.ended_at);
  if (end !== null) {
    return (end - start) / 1000;
  }
  if (isLive(run.status)) {
    return (now - start) / 1000;
  }
  return typeof run.duration === 'number' ? run.duration : null;
}

/** A metric value, short: `0.2346`, `1.235e+6`, `12`. */
export function formatMetric(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return MISSING;
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e6) {
    return String(value);
  }
  const size = Math.abs(value);
  if (size !== 0 && (size >= 1e6 || size < 1e-3)) {
    return value.toExponential(3);
  }
  return String(Number(value.toPrecision(4)));
}

/** `loss 0.25 (min)`, or `` when the run has no objective value. */
export function formatObjective(objective: IObjective | null | undefined): string {
  if (!objective || objective.value === null || objective.value === undefined) {
    return '';
  }
  const goal = objective.goal ? ` (${objective.goal})` : '';
  return `${objective.metric} ${formatMetric(objective.value)}${goal}`;
}

/** What a run is called: its run name, else its job and ledger id. */
export function runTitle(run: IRun): string {
  if (run.name) {
    return run.name;
  }
  return `${run.application || 'run'} #${run.id}`;
}

/** The notebook's path as text, or null when the ledger does not know it. */
export function notebookPath(notebook: string | INotebookPlace | null | undefined): string | null {
  if (!notebook) {
    return null;
  }
  return typeof notebook === 'string' ? notebook : notebook.path || null;
}

/** The notebook path the panel may open (relative to the server's root), or null. */
export function notebookLink(notebook: string | INotebookPlace | null | undefined): string | null {
  const path = notebookPath(notebook);
  if (!path || (typeof notebook === 'object' && notebook && !notebook.in_root)) {
    return null;
  }
  // An absolute path lies outside the server's root: Lab cannot open it.
  if (path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('../')) {
    return null;
  }
  return path;
}

const BARS = '▁▂▃▄▅▆▇█';

/**
 * A metric's trend as a line of block characters, its last `width` points scaled between
 * their minimum and maximum (gaps for missing points): `▁▃▅█`.
 */
export function sparkline(values: readonly (number | null)[], width = 24): string {
  const shown = values.slice(-width);
  const known = shown.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (!known.length) {
    return '';
  }
  const low = Math.min(...known);
  const high = Math.max(...known);
  return shown
    .map(v => {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        return ' ';
      }
      const level = high === low ? 3 : Math.round(((v - low) / (high - low)) * (BARS.length - 1));
      return BARS[level];
    })
    .join('');
}

/** Runs side by side in the list: the runs of one sweep, or consecutive runs of none. */
export interface IRunGroup {
  sweep: string | null;
  runs: IRun[];
}

/**
 * Groups a newest-first list by sweep: each sweep's runs together, where its newest run
 * stands; runs of no sweep stay in place, consecutive ones in one group.
 */
export function groupBySweep(runs: readonly IRun[]): IRunGroup[] {
  const groups: IRunGroup[] = [];
  const bySweep = new Map<string, IRunGroup>();
  for (const run of runs) {
    if (run.sweep) {
      let group = bySweep.get(run.sweep);
      if (!group) {
        group = { sweep: run.sweep, runs: [] };
        bySweep.set(run.sweep, group);
        groups.push(group);
      }
      group.runs.push(run);
      continue;
    }
    const last = groups[groups.length - 1];
    if (last && last.sweep === null) {
      last.runs.push(run);
    } else {
      groups.push({ sweep: null, runs: [run] });
    }
  }
  return groups;
}

/** What changed between two polls of the live runs. */
export interface ILiveChange {
  /** Runs seen live before and ended now. */
  ended: IRun[];
  /** The live runs now, by id. */
  live: Map<number, IRun>;
  /** Ids live before and absent now, whose fate is unknown: ask for their details. */
  vanished: number[];
}

/**
 * Compares the live runs seen before with a poll's runs (live ones, and any others it
 * holds, such as details fetched for runs that left the live list).
 */
export function liveChange(before: ReadonlyMap<number, IRun>, now: readonly IRun[]): ILiveChange {
  const live = new Map<number, IRun>();
  const ended: IRun[] = [];
  const present = new Set<number>();
  for (const run of now) {
    present.add(run.id);
    if (isLive(run.status)) {
      live.set(run.id, run);
    } else if (before.has(run.id) && isTerminal(run.status)) {
      ended.push(run);
    }
  }
  const vanished = [...before.keys()].filter(id => !present.has(id));
  return { ended, live, vanished };
}

/** Which ended runs get a notice: all, only failed ones, or none. */
export type NoticeMode = 'all' | 'failures' | 'off';

export function wantsNotice(mode: NoticeMode, status: string): boolean {
  if (mode === 'off') {
    return false;
  }
  if (mode === 'failures') {
    return statusKind(status) === 'failed';
  }
  return true;
}

/** The toast's text and kind for a run that ended. */
export function noticeFor(run: IRun): {
  message: string;
  type: 'success' | 'error' | 'warning' | 'info';
} {
  const kind = statusKind(run.status);
  const parts = [`${runTitle(run)} ${statusLabel(run.status).toLowerCase()}`];
  const end = parseTime(run.ended_at);
  const duration = runDuration(run, end ?? Date.now());
  if (duration !== null) {
    parts.push(`after ${formatDuration(duration)}`);
  }
  let message = parts.join(' ');
  const objective = formatObjective(run.objective);
  if (objective) {
    message += ` · ${objective}`;
  }
  const type = kind === 'finished' ? 'success' : kind === 'failed' ? 'error' : 'warning';
  return { message, type: kind === 'unknown' ? 'info' : type };
}

/** What the poller knows when it picks its next delay. */
export interface IPollState {
  /** Live runs at the last poll. */
  live: number;
  /** The panel is on screen. */
  visible: boolean;
  /** Polls in a row that saw no live run and no change. */
  quiet: number;
  /** Polls in a row that failed. */
  failures: number;
}

/** Poll every 2 s while a run is live. */
export const LIVE_DELAY_MS = 2000;
/** At most this long between polls while the panel is open and nothing is live. */
export const OPEN_IDLE_MAX_MS = 30000;
/** Closed panel, nothing live: look now and then for runs started elsewhere. */
export const CLOSED_IDLE_MS = 60000;

/**
 * Milliseconds until the next poll: fast while a run is live; backing off, doubling from
 * 2 s to 30 s, while the panel is open and all is quiet; once a minute otherwise; failures
 * back off the same way up to a minute.
 */
export function pollDelay(state: IPollState): number {
  if (state.failures > 0) {
    return Math.min(CLOSED_IDLE_MS, LIVE_DELAY_MS * 2 ** Math.min(state.failures, 10));
  }
  if (state.live > 0) {
    return LIVE_DELAY_MS;
  }
  if (state.visible) {
    return Math.min(OPEN_IDLE_MAX_MS, LIVE_DELAY_MS * 2 ** Math.min(state.quiet, 10));
  }
  return CLOSED_IDLE_MS;
}

/** The query string of `GET jobmagic/runs` for a filter and a page. */
export function runsQuery(filter: IRunFilter, offset: number, limit: number): string {
  const args = new URLSearchParams();
  args.set('limit', String(limit));
  if (offset > 0) {
    args.set('offset', String(offset));
  }
  const status = filter.status === 'LIVE' ? LIVE_STATUSES.join(',') : filter.status;
  if (status) {
    args.set('status', status);
  }
  if (filter.job.trim()) {
    args.set('app', filter.job.trim());
  }
  if (filter.sweep.trim()) {
    args.set('sweep', filter.sweep.trim());
  }
  if (filter.text.trim()) {
    args.set('q', filter.text.trim());
  }
  return args.toString();
}

/** `3 live · 10 finished · 2 failed` from a page's counts (live first, then the rest). */
export function countsSummary(counts: Record<string, number>): string {
  const live = LIVE_STATUSES.reduce((sum, status) => sum + (counts[status] || 0), 0);
  const parts: string[] = [];
  if (live) {
    parts.push(`${live} live`);
  }
  for (const status of TERMINAL_STATUSES) {
    if (counts[status]) {
      parts.push(`${counts[status]} ${status.toLowerCase()}`);
    }
  }
  const other = Object.entries(counts)
    .filter(([status]) => !FILTER_STATUSES.includes(status))
    .reduce((sum, [, n]) => sum + n, 0);
  if (other) {
    parts.push(`${other} other`);
  }
  return parts.join(' · ');
}

/**
 * The text of a logs answer, whatever its shape: a string, `{logs: string}`, or lines
 * (strings or `{line|log|message|text}` objects) under `lines`/`logs`.
 */
export function logsText(body: unknown): string {
  if (typeof body === 'string') {
    return body;
  }
  if (Array.isArray(body)) {
    return body.map(lineText).join('\n');
  }
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    for (const key of ['lines', 'logs', 'text']) {
      if (key in record) {
        return logsText(record[key]);
      }
    }
  }
  return '';
}

function lineText(line: unknown): string {
  if (typeof line === 'string') {
    return line;
  }
  if (line && typeof line === 'object') {
    const record = line as Record<string, unknown>;
    for (const key of ['line', 'log', 'message', 'text']) {
      if (typeof record[key] === 'string') {
        return record[key] as string;
      }
    }
  }
  return String(line ?? '');
}
