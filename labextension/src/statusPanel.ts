/** The sidebar's Status tab: which provider and model serve each layer, and what this notebook has cost. */
import { INotebookTracker } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './connection';
import { button, element } from './dom';

interface ILayerRow {
  label: string;
  offline: boolean;
}

interface IStatus {
  layers: Record<string, ILayerRow>;
  usage: Record<string, { calls: number; input_tokens: number; output_tokens: number; estimated_cost_usd: number }>;
  total_cost_usd: number;
  path: string;
}

export class StatusPanel extends Widget {
  constructor(tracker: INotebookTracker, settings: ServerConnection.ISettings) {
    super();
    this.id = 'jupyter-layers-status';
    this.title.label = 'Status';
    this.addClass('jp-layers-panel');
    this._tracker = tracker;
    this._settings = settings;
    this._body = element('div', { className: 'jp-layers-status-body' });
    this.node.append(
      this._body,
      button('Refresh', () => void this.refresh(), 'jp-layers-status-refresh')
    );
    tracker.currentChanged.connect(() => void this.refresh());
  }

  async refresh(): Promise<void> {
    const path = this._tracker.currentWidget?.context.path ?? '';
    let status: IStatus;
    try {
      status = await requestAPI<IStatus>(this._settings, `status?path=${encodeURIComponent(path)}`);
    } catch (error) {
      // The server says what is misconfigured (one line with a hint); show exactly that.
      this._body.replaceChildren(
        element('div', { className: 'jp-layers-error', textContent: String((error as Error).message) })
      );
      return;
    }
    const rows = Object.entries(status.layers).map(([layer, row]) => {
      const usage = status.usage[layer];
      return element('tr', {}, [
        element('th', { textContent: layer }),
        element('td', { textContent: row.label }),
        element('td', { textContent: row.offline ? 'offline' : 'online' }),
        element('td', {
          textContent: usage ? `${(usage.input_tokens + usage.output_tokens).toLocaleString()} tok` : '–'
        }),
        element('td', { textContent: usage ? `$${usage.estimated_cost_usd.toFixed(4)}` : '–' })
      ]);
    });
    this._body.replaceChildren(
      element('table', { className: 'jp-layers-status-table' }, [
        element(
          'tr',
          {},
          ['layer', 'model', 'where', 'tokens', 'est. cost'].map(h => element('th', { textContent: h }))
        ),
        ...rows
      ]),
      element('div', {
        className: 'jp-layers-status-total',
        textContent: status.path
          ? `${status.path}: estimated $${status.total_cost_usd.toFixed(4)} so far (list prices; local models free)`
          : 'open a notebook to see its usage'
      })
    );
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private _tracker: INotebookTracker;
  private _settings: ServerConnection.ISettings;
  private _body: HTMLElement;
}
