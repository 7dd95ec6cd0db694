/**
 * jupyter_layers in JupyterLab and Notebook 7: inline completion (layer 1), edit-selection with a diff
 * (layer 2) and a right sidebar for exploration, building, escalation and status (layers 3 and 4). All of them talk to the
 * server extension through one WebSocket per tab; the server holds the engine and the model keys.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Token } from '@lumino/coreutils';
import { TabPanel } from '@lumino/widgets';

import { BuildPanel } from './buildPanel';
import { LayersCompletionProvider } from './completion';
import { LayersConnection } from './connection';
import { EDIT_COMMAND, editSelection } from './edit';
import { EscalatePanel } from './escalatePanel';
import { ExplorePanel } from './explorePanel';
import { takeProposals } from './handoff';
import { styleScratchCells } from './scratchStyle';
import { StatusPanel } from './statusPanel';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161"><path d="M12 2 1 7.5 12 13l11-5.5z"/><path d="m3.3 11.3-2.3 1.2L12 18l11-5.5-2.3-1.2L12 15.8z" opacity=".75"/>
<path d="m3.3 16.3-2.3 1.2L12 23l11-5.5-2.3-1.2L12 20.8z" opacity=".5"/></g></svg>`;
export const layersIcon = new LabIcon({ name: 'jupyter-layers:layers', svgstr: ICON_SVG });

const IConnection = new Token<LayersConnection>('jupyter-layers:connection', 'the WebSocket to the server extension');

const connectionPlugin: JupyterFrontEndPlugin<LayersConnection> = {
  id: 'jupyter-layers:connection',
  description: 'One WebSocket per tab to the jupyter_layers server extension.',
  autoStart: true,
  provides: IConnection,
  activate: (app: JupyterFrontEnd) => new LayersConnection(app.serviceManager.serverSettings)
};

const completionPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-layers:completion',
  description: 'Streaming ghost-text completion with the live kernel state as context.',
  autoStart: true,
  requires: [ICompletionProviderManager, IConnection],
  activate: (app: JupyterFrontEnd, manager: ICompletionProviderManager, connection: LayersConnection) => {
    if (typeof manager.registerInlineProvider === 'undefined') {
      console.warn('jupyter_layers: this JupyterLab has no inline completer (it needs 4.1 or newer)');
      return;
    }
    manager.registerInlineProvider(new LayersCompletionProvider(connection));
  }
};

const editPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-layers:edit',
  description: 'Edit the selected code by an instruction and review the change as a diff in the cell.',
  autoStart: true,
  requires: [INotebookTracker, IConnection],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, connection: LayersConnection) => {
    app.commands.addCommand(EDIT_COMMAND, {
      label: 'Edit Selection with AI…',
      caption: 'Describe a change to the selected code (or the whole cell) and review it as a diff',
      icon: layersIcon,
      isEnabled: () => tracker.currentWidget?.content.activeCell?.model.type === 'code',
      execute: () => {
        const panel = tracker.currentWidget;
        if (panel) {
          editSelection(panel, connection);
        }
      }
    });
  }
};

const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-layers:sidebar',
  description: 'The right sidebar: exploration and build agents, escalation and status.',
  autoStart: true,
  requires: [INotebookTracker, IConnection],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, connection: LayersConnection) => {
    const status = new StatusPanel(tracker, app.serviceManager.serverSettings);
    const refresh = () => void status.refresh();
    const sidebar = new TabPanel();
    sidebar.id = 'jupyter-layers-sidebar';
    sidebar.addClass('jp-layers-sidebar');
    sidebar.title.icon = layersIcon;
    sidebar.title.caption = 'jupyter_layers: explore, build, escalate, status';
    sidebar.addWidget(new ExplorePanel(tracker, connection, refresh));
    const build = new BuildPanel(tracker, connection, refresh);
    sidebar.addWidget(build);
    sidebar.addWidget(new EscalatePanel(tracker, connection, refresh));
    sidebar.addWidget(status);
    app.shell.add(sidebar, 'right', { rank: 900 });
    const watch = (panel: NotebookPanel) => {
      styleScratchCells(panel);
      takeProposals(panel, (shown, proposal, ids) => build.showHandedOver(shown, proposal, ids));
    };
    tracker.forEach(watch); // notebooks opened before this plugin activated
    tracker.widgetAdded.connect((_, panel) => watch(panel));
    app.commands.addCommand('jupyter-layers:open-sidebar', {
      label: 'Open the jupyter_layers Sidebar',
      icon: layersIcon,
      execute: () => app.shell.activateById(sidebar.id)
    });
  }
};

export default [connectionPlugin, completionPlugin, editPlugin, sidebarPlugin];
