/**
 * The sidebar's Status tab: which provider and model serve each layer and why, the limits the server's admin set,
 * what this user spent, and what this notebook has cost over all its sessions.
 */
import { INotebookTracker } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './connection';
import { button, element } from './dom';
import { ISpending, spendingLines } from './spending';

interface ILayerRow {
  label: string; // "refused" when the admin's limits refuse the layer
  offline: boolean;
  reason: string; // why this provider and model, or why refused
}

interface IStatus {
  layers: Record<string, ILayerRow>;
  usage: Record<string, { calls: number; input_tokens: number; output_tokens: number; estimated_cost_usd: number }>;
  total_cost_usd: number;
  path: string;
  spending: ISpending;
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
      const where = row.label === 'refused' ? 'refused' : row.offline ? 'offline' : 'online';
      return element('tr', { title: row.reason }, [
        element('th', { textContent: layer }),
        element('td', { textContent: row.label === 'refused' ? row.reason : row.label }),
        element('td', { textContent: where }),
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
      }),
      ...spendingLines(status.spending).map(line =>
        element('div', { className: 'jp-layers-status-spending', textContent: line })
      )
    );
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private _tracker: INotebookTracker;
  private _settings: ServerConnection.ISettings;
  private _body: HTMLElement;
}
