/**
 * The Runs panel: every run in the ledger (every notebook, every kernel, scripts too), newest
 * first, grouped by sweep, with a filter; a run opens its details.
 */
import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { RunsApi } from './api';
import { RunDetails } from './details';
import { button, el } from './dom';
import { jobmagicIcon } from './icon';
import {
  EMPTY_FILTER,
  FILTER_STATUSES,
  IRun,
  IRunFilter,
  countsSummary,
  formatDuration,
  formatLocalTime,
  formatObjective,
  formatRelative,
  groupBySweep,
  parseTime,
  runDuration,
  runTitle,
  statusKind,
  statusLabel
} from './model';
import { PAGE_SIZE, RunsStore } from './store';

export const PANEL_ID = 'jobmagic-runs';

/** Typing in a filter box waits this long before asking the server. */
const TYPING_DELAY_MS = 300;

export class RunsPanel extends Widget {
  constructor(
    private store: RunsStore,
    api: RunsApi,
    commands: CommandRegistry
  ) {
    super();
    this.id = PANEL_ID;
    this.addClass('jobmagic-runs');
    this.title.icon = jobmagicIcon;
    this.title.caption = 'Runs';
    this.title.label = 'Runs';

    this._details = new RunDetails({
      api,
      commands,
      onClose: () => this.showList(),
      onOpen: id => void this.showDetails(id),
      onChanged: () => this.store.refresh()
    });

    const header = el('div', 'jobmagic-runs-header');
    header.appendChild(el('span', 'jobmagic-runs-title', 'Runs'));
    header.appendChild(this._counts);
    header.appendChild(
      button('⟳', 'jobmagic-runs-refresh', () => this.store.refresh(), 'Refresh now')
    );
    this._listView.append(header, this.filterBar(), this._message, this._list, this._pager);
    this._listView.className = 'jobmagic-runs-view';
    this._details.node.hidden = true;
    this.node.append(this._listView, this._details.node);

    store.changed.connect(this.onStoreChanged, this);
  }

  /** Opens run `id`'s details (scrolled to its logs with `logs`). */
  async showDetails(id: number, logs = false): Promise<void> {
    this._listView.hidden = true;
    this._details.node.hidden = false;
    await this._details.show(id, logs);
  }

  showList(): void {
    this._details.clear();
    this._details.node.hidden = true;
    this._listView.hidden = false;
    this.render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.store.changed.disconnect(this.onStoreChanged, this);
    window.clearTimeout(this._typing);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    this.store.visible = true;
  }

  protected onAfterHide(msg: Message): void {
    this.store.visible = false;
  }

  private onStoreChanged(): void {
    if (!this._details.node.hidden) {
      if (this._details.live) {
        void this._details.reload();
      }
      return;
    }
    this.render();
  }

  private filterBar(): HTMLElement {
    const bar = el('div', 'jobmagic-runs-filter');
    const status = el('select', 'jp-mod-styled jobmagic-filter-status');
    status.title = 'Status';
    status.setAttribute('aria-label', 'Status');
    const options: [string, string][] = [
      ['', 'All statuses'],
      ['LIVE', 'Live'],
      ...FILTER_STATUSES.map((value): [string, string] => [value, statusLabel(value)])
    ];
    for (const [value, label] of options) {
      const option = el('option', '', label);
      option.value = value;
      status.appendChild(option);
    }
    status.addEventListener('change', () => this.updateFilter({ status: status.value }, 0));
    bar.appendChild(status);
    const boxes: [keyof IRunFilter, string, string][] = [
      ['text', 'Search name, job, params…', 'jobmagic-filter-text'],
      ['job', 'Job', 'jobmagic-filter-job'],
      ['sweep', 'Sweep', 'jobmagic-filter-sweep']
    ];
    for (const [key, placeholder, className] of boxes) {
      const input = el('input', `jp-mod-styled ${className}`);
      input.type = 'search';
      input.placeholder = placeholder;
      input.setAttribute('aria-label', placeholder);
      input.addEventListener('input', () =>
        this.updateFilter({ [key]: input.value }, TYPING_DELAY_MS)
      );
      bar.appendChild(input);
    }
    return bar;
  }

  private updateFilter(change: Partial<IRunFilter>, delay: number): void {
    this._filter = { ...this._filter, ...change };
    window.clearTimeout(this._typing);
    const apply = () => this.store.setFilter(this._filter);
    if (delay) {
      this._typing = window.setTimeout(apply, delay);
    } else {
      apply();
    }
  }

  private render(): void {
    const page = this.store.page;
    const error = this.store.error;
    this._message.className = 'jobmagic-runs-message';
    if (error) {
      this._message.classList.add('jobmagic-message-error');
      this._message.textContent = error.message;
    } else if (page?.notice) {
      this._message.textContent = page.notice;
    } else {
      this._message.textContent = '';
    }
    this._message.hidden = !this._message.textContent;
    if (!page) {
      this._counts.textContent = '';
      this._list.replaceChildren(el('div', 'jobmagic-runs-empty', error ? '' : 'Loading runs…'));
      this._pager.hidden = true;
      return;
    }
    this._counts.textContent = countsSummary(page.counts);
    this._counts.title = this._counts.textContent;
    const now = Date.now();
    const nodes: Node[] = [];
    for (const group of groupBySweep(page.runs)) {
      if (group.sweep === null) {
        nodes.push(...group.runs.map(run => this.row(run, now)));
        continue;
      }
      const box = el('div', 'jobmagic-run-group');
      box.dataset.sweep = group.sweep;
      const heading = el('div', 'jobmagic-run-group-header');
      heading.appendChild(el('span', 'jobmagic-run-group-label', 'sweep'));
      heading.appendChild(el('span', 'jobmagic-run-group-name', group.sweep));
      heading.appendChild(
        el(
          'span',
          'jobmagic-muted',
          `${group.runs.length} run${group.runs.length === 1 ? '' : 's'}`
        )
      );
      box.appendChild(heading);
      box.append(...group.runs.map(run => this.row(run, now)));
      nodes.push(box);
    }
    if (!nodes.length) {
      const filtered = JSON.stringify(this._filter) !== JSON.stringify(EMPTY_FILTER);
      nodes.push(
        el(
          'div',
          'jobmagic-runs-empty',
          filtered
            ? 'No runs match the filter.'
            : 'No runs yet. Runs triggered with %%trigger_job in any notebook, or by a script, appear here.'
        )
      );
    }
    this._list.replaceChildren(...nodes);
    this.renderPager(page.total, page.runs.length);
  }

  private row(run: IRun, now: number): HTMLElement {
    const kind = statusKind(run.status);
    const row = el('div', `jobmagic-run-row jobmagic-run-${kind}`);
    row.dataset.runId = String(run.id);
    row.dataset.status = run.status;
    row.tabIndex = 0;
    row.setAttribute('role', 'button');
    const top = el('div', 'jobmagic-run-line');
    top.appendChild(el('span', `jobmagic-badge jobmagic-badge-${kind}`, run.status));
    const name = el('span', 'jobmagic-run-name', runTitle(run));
    name.title = runTitle(run);
    top.appendChild(name);
    const created = parseTime(run.created_at);
    const when = el('span', 'jobmagic-run-when', formatRelative(created, now));
    when.title = `created ${formatLocalTime(created)}`;
    top.appendChild(when);
    const bottom = el('div', 'jobmagic-run-line jobmagic-run-sub');
    bottom.appendChild(el('span', 'jobmagic-run-app', run.application || ''));
    const duration = runDuration(run, now);
    if (duration !== null) {
      bottom.appendChild(el('span', 'jobmagic-run-duration', formatDuration(duration)));
    }
    const objective = formatObjective(run.objective);
    if (objective) {
      bottom.appendChild(el('span', 'jobmagic-run-objective', objective));
    }
    if (run.refreshed === false) {
      const stale = el('span', 'jobmagic-run-stale', 'not refreshed');
      stale.title =
        'The server has no credentials for this run’s host: its stored status is shown.';
      bottom.appendChild(stale);
    }
    row.append(top, bottom);
    const open = () => void this.showDetails(run.id);
    row.addEventListener('click', open);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open();
      }
    });
    return row;
  }

  private renderPager(total: number, shown: number): void {
    const offset = this.store.offset;
    this._pager.hidden = total <= PAGE_SIZE && offset === 0;
    const newer = button('‹ Newer', 'jobmagic-page-newer', () =>
      this.store.setOffset(offset - PAGE_SIZE)
    );
    newer.disabled = offset === 0;
    const older = button('Older ›', 'jobmagic-page-older', () =>
      this.store.setOffset(offset + PAGE_SIZE)
    );
    older.disabled = offset + shown >= total;
    const range = shown ? `${offset + 1}–${offset + shown} of ${total}` : `0 of ${total}`;
    this._pager.replaceChildren(newer, el('span', 'jobmagic-muted', range), older);
  }

  private _details: RunDetails;
  private _filter: IRunFilter = { ...EMPTY_FILTER };
  private _typing = 0;
  private _listView = el('div', 'jobmagic-runs-view');
  private _counts = el('span', 'jobmagic-runs-counts');
  private _message = el('div', 'jobmagic-runs-message');
  private _list = el('div', 'jobmagic-runs-list');
  private _pager = el('div', 'jobmagic-runs-pager');
}
