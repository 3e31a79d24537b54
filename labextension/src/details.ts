/**
 * One run's details in the Runs panel: params, metrics, times, exit code, error, the tail of
 * its logs, the notebook it came from, Terminate and Run again.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { CommandRegistry } from '@lumino/commands';

import { RunsApi } from './api';
import { button, el, kvTable } from './dom';
import {
  IRun,
  MISSING,
  formatDuration,
  formatLocalTime,
  formatMetric,
  isLive,
  notebookLink,
  notebookPath,
  parseTime,
  runDuration,
  runTitle,
  sparkline,
  statusKind
} from './model';

/** Lines of logs the details show. */
export const LOG_TAIL = 200;

export interface IDetailsOptions {
  api: RunsApi;
  commands: CommandRegistry;
  /** Back to the list. */
  onClose: () => void;
  /** Another run to show (a rerun just triggered). */
  onOpen: (id: number) => void;
  /** Something changed at the server: poll now. */
  onChanged: () => void;
}

/** Renders one run's details into `node`, and keeps them fresh while the run is live. */
export class RunDetails {
  readonly node: HTMLDivElement = el('div', 'jobmagic-run-details');

  constructor(private options: IDetailsOptions) {}

  get runId(): number | null {
    return this._id;
  }

  /** Shows run `id` (reading it now); `logs` scrolls to its logs once they are in. */
  async show(id: number, logs = false): Promise<void> {
    this._id = id;
    this._run = null;
    this._logs = null;
    this._message = '';
    this._scrollToLogs = logs;
    this.render();
    await this.reload();
  }

  /** Reads the run again, then its logs while it is live or not read yet. */
  async reload(): Promise<void> {
    const id = this._id;
    if (id === null || this._loading === id) {
      return;
    }
    this._loading = id;
    const wasLive = this._run ? isLive(this._run.status) : true;
    try {
      const run = await this.options.api.run(id);
      if (id !== this._id) {
        return;
      }
      this._run = run;
      this._error = '';
    } catch (error) {
      if (id === this._id) {
        this._error = error instanceof Error ? error.message : String(error);
      }
    } finally {
      if (this._loading === id) {
        this._loading = null;
      }
    }
    if (id !== this._id) {
      return;
    }
    this.render();
    // Logs change while a run is live, and once more as it ends; they may take a while
    // (the server asks TrueFoundry), so the rest is shown first.
    if (this._run && (this._logs === null || wasLive)) {
      void this.reloadLogs(id);
    }
  }

  private async reloadLogs(id: number): Promise<void> {
    if (this._logsLoading === id) {
      return;
    }
    this._logsLoading = id;
    let text: string;
    try {
      text = await this.options.api.logs(id, LOG_TAIL);
    } catch (error) {
      text = `(logs unavailable: ${error instanceof Error ? error.message : String(error)})`;
    } finally {
      if (this._logsLoading === id) {
        this._logsLoading = null;
      }
    }
    if (id === this._id) {
      this._logs = text;
      this.render();
    }
  }

  /** True while the shown run can still change (the panel reloads it on each tick). */
  get live(): boolean {
    return this._run === null || isLive(this._run.status);
  }

  clear(): void {
    this._id = null;
    this._run = null;
    this.node.replaceChildren();
  }

  render(): void {
    const node = this.node;
    const back = button('← All runs', 'jobmagic-details-back', () => this.options.onClose());
    const parts: Node[] = [back];
    const run = this._run;
    if (!run) {
      parts.push(el('div', 'jobmagic-runs-message', this._error || 'Loading…'));
      node.replaceChildren(...parts);
      return;
    }
    const now = Date.now();
    const heading = el('div', 'jobmagic-details-heading');
    const kind = statusKind(run.status);
    heading.appendChild(el('span', `jobmagic-badge jobmagic-badge-${kind}`, run.status));
    heading.appendChild(el('span', 'jobmagic-details-name', runTitle(run)));
    parts.push(heading);

    const actions = el('div', 'jobmagic-details-actions');
    if (isLive(run.status)) {
      actions.appendChild(
        button('Terminate', 'jp-mod-warn jobmagic-terminate', () => void this.terminate(run))
      );
    }
    actions.appendChild(
      button(
        'Run again',
        'jobmagic-rerun',
        () => void this.rerun(run),
        'Trigger it again with the same params'
      )
    );
    parts.push(actions);
    if (this._message) {
      parts.push(el('div', 'jobmagic-runs-message jobmagic-details-message', this._message));
    }
    if (this._error) {
      parts.push(el('div', 'jobmagic-runs-message jobmagic-message-error', this._error));
    }

    const created = parseTime(run.created_at);
    const ended = parseTime(run.ended_at);
    const rows: [string, string | Node][] = [
      ['Job', run.application || MISSING],
      ['Created', formatLocalTime(created)],
      ['Ended', ended === null ? MISSING : formatLocalTime(ended)],
      ['Duration', formatDuration(runDuration(run, now))],
      [
        'Exit code',
        run.exit_code === null || run.exit_code === undefined ? MISSING : String(run.exit_code)
      ]
    ];
    if (run.sweep) {
      rows.push(['Sweep', run.sweep]);
    }
    if (run.rerun_of !== null && run.rerun_of !== undefined && run.rerun_of !== '') {
      rows.push([
        'Rerun of',
        typeof run.rerun_of === 'number' ? this.runLink(run.rerun_of) : run.rerun_of
      ]);
    }
    rows.push(['Notebook', this.notebookNode(run.notebook)]);
    if (run.host) {
      rows.push(['Host', run.host]);
    }
    if (run.refreshed === false) {
      rows.push(['Status', 'not refreshed: no credentials for this host on the server']);
    }
    parts.push(kvTable(rows, 'jobmagic-details-meta'));

    if (run.error) {
      parts.push(el('h3', 'jobmagic-details-section', 'Error'));
      parts.push(el('pre', 'jobmagic-error jobmagic-details-error', run.error));
    }

    const params = Object.entries(run.params || {});
    parts.push(el('h3', 'jobmagic-details-section', 'Params'));
    parts.push(
      params.length
        ? kvTable(params, 'jobmagic-details-params')
        : el('div', 'jobmagic-muted', 'No params were sent.')
    );

    parts.push(...this.metricsNodes(run));

    const logsHeading = el('h3', 'jobmagic-details-section', `Logs (last ${LOG_TAIL} lines)`);
    parts.push(logsHeading);
    const logs = el('pre', 'jobmagic-logs jobmagic-details-logs', this._logs || '(no logs yet)');
    parts.push(logs);
    node.replaceChildren(...parts);
    if (this._scrollToLogs && this._logs !== null) {
      this._scrollToLogs = false;
      logsHeading.scrollIntoView({ block: 'start' });
    }
  }

  /** Each metric's latest value and trend; the objective's row stands out. */
  private metricsNodes(run: IRun): Node[] {
    const history = run.history || {};
    const names = [...new Set([...Object.keys(run.metrics || {}), ...Object.keys(history)])];
    if (!names.length && !run.objective) {
      return [];
    }
    const nodes: Node[] = [el('h3', 'jobmagic-details-section', 'Metrics')];
    if (!names.length) {
      nodes.push(el('div', 'jobmagic-muted', 'No metrics logged yet.'));
    } else {
      const table = el('table', 'jobmagic-kv jobmagic-details-metrics');
      const body = el('tbody');
      for (const name of names.sort()) {
        const row = el('tr');
        if (run.objective?.metric === name) {
          row.className = 'jobmagic-objective-row';
          row.title = `the objective (${run.objective.goal})`;
        }
        const series = history[name] || [];
        const latest = run.metrics?.[name] ?? series[series.length - 1] ?? null;
        row.appendChild(el('th', '', name));
        row.appendChild(el('td', 'jobmagic-metric-value', formatMetric(latest)));
        const trend = el('td', 'jobmagic-metric-trend', sparkline(series));
        trend.title = series.length ? `${series.length} points` : '';
        row.appendChild(trend);
        body.appendChild(row);
      }
      table.appendChild(body);
      nodes.push(table);
    }
    if (run.history_error) {
      nodes.push(el('div', 'jobmagic-muted jobmagic-history-error', run.history_error));
    }
    return nodes;
  }

  private runLink(id: number): Node {
    const link = el('a', 'jobmagic-link', `#${id}`);
    link.href = '#';
    link.addEventListener('click', event => {
      event.preventDefault();
      this.options.onOpen(id);
    });
    return link;
  }

  private notebookNode(notebook: IRun['notebook']): Node {
    const path = notebookLink(notebook);
    const shown = notebookPath(notebook);
    if (!shown) {
      return el('span', 'jobmagic-muted', 'unknown');
    }
    if (!path) {
      // Outside the server's root: shown, not linked.
      const text = el('span', 'jobmagic-muted', shown);
      text.title = "outside this server's root";
      return text;
    }
    const link = el('a', 'jobmagic-link jobmagic-notebook-link', path);
    link.href = '#';
    link.title = `Open ${path}`;
    link.addEventListener('click', event => {
      event.preventDefault();
      void this.options.commands.execute('docmanager:open', { path });
    });
    return link;
  }

  private async terminate(run: IRun): Promise<void> {
    const title = runTitle(run);
    const answer = await showDialog({
      title: 'Terminate this run?',
      body: `${title} (${run.application || 'job'}) will be stopped at the server. This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Terminate' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this.options.api.terminate(run.id);
      this._message = `Termination of ${title} requested.`;
    } catch (error) {
      this._message = `Could not terminate ${title}: ${error instanceof Error ? error.message : String(error)}`;
    }
    this.render();
    this.options.onChanged();
    await this.reload();
  }

  private async rerun(run: IRun): Promise<void> {
    const title = runTitle(run);
    try {
      const fresh = await this.options.api.rerun(run.id);
      this.options.onChanged();
      if (fresh && typeof fresh.id === 'number') {
        this.options.onOpen(fresh.id);
        return;
      }
      this._message = `Triggered ${title} again.`;
    } catch (error) {
      this._message = `Could not run ${title} again: ${error instanceof Error ? error.message : String(error)}`;
    }
    this.render();
  }

  private _id: number | null = null;
  private _run: IRun | null = null;
  private _logs: string | null = null;
  private _message = '';
  private _error = '';
  private _loading: number | null = null;
  private _logsLoading: number | null = null;
  private _scrollToLogs = false;
}
