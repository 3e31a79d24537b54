/**
 * A notice when a run ends: JupyterLab's own notifications, for runs this page saw live.
 * It needs no notebook open and no kernel: the poller reads the ledger through the server.
 */
import { Notification } from '@jupyterlab/apputils';

import { IRun, NoticeMode, noticeFor, wantsNotice } from './model';
import { RunsStore } from './store';

export interface INoticeOptions {
  store: RunsStore;
  /** The setting's value now (it may change while Lab runs). */
  mode: () => NoticeMode;
  /** Opens the panel on the run's details (scrolled to its logs with `logs`). */
  show: (id: number, logs: boolean) => void;
}

/** Shows a toast for each run that ends; returns a function that stops it. */
export function connectNotices(options: INoticeOptions): () => void {
  const onEnded = (_: RunsStore, run: IRun) => {
    if (!wantsNotice(options.mode(), run.status)) {
      return;
    }
    const { message, type } = noticeFor(run);
    const failed = type === 'error';
    Notification.emit(message, type, {
      // A failure waits for the user; a success goes by itself.
      autoClose: failed ? false : 8000,
      actions: failed
        ? [
            {
              label: 'Show logs',
              caption: 'Open the run in the Runs panel, at its logs',
              callback: () => options.show(run.id, true)
            }
          ]
        : [{ label: 'Details', callback: () => options.show(run.id, false), displayType: 'link' }]
    });
  };
  options.store.runEnded.connect(onEnded);
  return () => options.store.runEnded.disconnect(onEnded);
}
