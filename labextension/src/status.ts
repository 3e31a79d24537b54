/**
 * The status-bar item: how many runs are live (every notebook, every kernel); a click opens
 * the Runs panel.
 */
import { Widget } from '@lumino/widgets';

import { el } from './dom';
import { jobmagicIcon } from './icon';
import { RunsStore } from './store';

/** `0 live`, `1 live`, `12 live`. */
export function liveText(count: number): string {
  return `${count} live`;
}

export class LiveRunsItem extends Widget {
  constructor(
    private store: RunsStore,
    private open: () => void
  ) {
    super();
    this.addClass('jobmagic-statusbar');
    this.node.title = 'jobmagic runs: open the Runs panel';
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    jobmagicIcon.element({ container: this._icon, tag: 'span', elementPosition: 'center' });
    this.node.append(this._icon, this._text);
    this.node.addEventListener('click', () => this.open());
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this.open();
      }
    });
    store.liveChanged.connect(this.update, this);
    this.update();
  }

  dispose(): void {
    this.store.liveChanged.disconnect(this.update, this);
    super.dispose();
  }

  update(): void {
    const count = this.store.liveCount;
    this._text.textContent = liveText(count);
    this.toggleClass('jobmagic-statusbar-live', count > 0);
  }

  private _icon = el('span', 'jobmagic-statusbar-icon');
  private _text = el('span', 'jobmagic-statusbar-text');
}
