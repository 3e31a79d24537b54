/**
 * jobmagic's JupyterLab extension: the Runs panel (left sidebar), the "N live" status-bar
 * item, and a notice when a run ends. All three read one poller of the server extension's
 * REST API (`{base_url}jobmagic/`).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { RunsApi } from './api';
import { jobmagicIcon } from './icon';
import { NoticeMode } from './model';
import { connectNotices } from './notices';
import { PANEL_ID, RunsPanel } from './panel';
import { LiveRunsItem } from './status';
import { RunsStore } from './store';

const PLUGIN_ID = 'jobmagic:plugin';

/** The command that opens the Runs panel (also on the status-bar item). */
export const OPEN_COMMAND = 'jobmagic:open-runs';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'A live Runs panel for every jobmagic run, and a notice when a run ends.',
  autoStart: true,
  optional: [ILayoutRestorer, IStatusBar, ISettingRegistry, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    statusBar: IStatusBar | null,
    settings: ISettingRegistry | null,
    palette: ICommandPalette | null
  ) => {
    const api = new RunsApi();
    const store = new RunsStore(api);
    const panel = new RunsPanel(store, api, app.commands);
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, PANEL_ID);
    }

    const open = (id?: number, logs = false) => {
      app.shell.activateById(PANEL_ID);
      if (id !== undefined) {
        void panel.showDetails(id, logs);
      }
    };
    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Show jobmagic Runs',
      caption: 'Every jobmagic run in the ledger, live',
      icon: jobmagicIcon,
      execute: args => open(typeof args.id === 'number' ? args.id : undefined, !!args.logs)
    });
    if (palette) {
      palette.addItem({ command: OPEN_COMMAND, category: 'jobmagic' });
    }

    if (statusBar) {
      statusBar.registerStatusItem('jobmagic:live-runs', {
        item: new LiveRunsItem(store, () => open()),
        align: 'left',
        rank: 5
      });
    }

    let mode: NoticeMode = 'all';
    connectNotices({ store, mode: () => mode, show: (id, logs) => open(id, logs) });
    if (settings) {
      void settings
        .load(PLUGIN_ID)
        .then(loaded => {
          const read = () => {
            const value = loaded.get('notices').composite;
            mode = value === 'off' || value === 'failures' ? value : 'all';
          };
          read();
          loaded.changed.connect(read);
        })
        .catch(reason => console.warn('jobmagic: settings not loaded', reason));
    }

    // Polls from the start: the status bar and the notices need no open panel.
    store.start();
  }
};

export default plugin;
