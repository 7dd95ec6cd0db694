/**
 * What the Explore and Escalate tabs share: a question box, Start and Stop, a status line that turns into one
 * error line, and one request at a time on the panel's stream (a new one supersedes it on the server).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { documentPayload, IDocumentPayload } from './cells';
import { IServerMessage, LayersConnection } from './connection';
import { button, element } from './dom';

export interface IQuestionPanelOptions {
  layer: 'explore' | 'escalate';
  label: string;
  placeholder: string;
}

export abstract class QuestionPanel extends Widget {
  constructor(
    options: IQuestionPanelOptions,
    protected readonly tracker: INotebookTracker,
    protected readonly connection: LayersConnection,
    private readonly _onFinished: () => void
  ) {
    super();
    this._layer = options.layer;
    this.id = `jupyter-layers-${options.layer}`;
    this.title.label = options.label;
    this.addClass('jp-layers-panel');
    this.question = element('textarea', { className: 'jp-layers-question', placeholder: options.placeholder, rows: 3 });
    this.question.addEventListener('keydown', event => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        void this.start();
      }
    });
    this._start = button(options.label, () => void this.start(), `jp-layers-${options.layer}-start jp-mod-accept`);
    this._stop = button('Stop', () => void this.stop(), `jp-layers-${options.layer}-stop`);
    this._stop.disabled = true;
    this.buttons = element('div', { className: 'jp-layers-buttons' }, [this._start, this._stop]);
    this.status = element('div', { className: 'jp-layers-status-line' });
    this.node.append(this.question, this.buttons, this.status);
  }

  /** Send the question about the current notebook; replies go to `receive` until done or error. */
  async start(): Promise<void> {
    const panel = this.tracker.currentWidget;
    const document = documentPayload(panel);
    if (!panel || !document) {
      return this.showError('open a notebook first');
    }
    this._stream = `${this._layer}:${panel.id}`;
    this.running(true, this.prepare(panel, document));
    await this.connection.request(
      { type: this._layer, stream: this._stream, ...document, question: this.question.value.trim() },
      message => {
        if (message.type === 'error') {
          this.showError(message.message ?? `the ${this._layer} request failed`);
        } else {
          this.receive(panel, message);
        }
        if (message.done || message.type === 'error') {
          this._onFinished();
        }
      }
    );
  }

  async stop(): Promise<void> {
    if (this._stream) {
      await this.connection.cancel(this._stream);
      this.running(false, 'stopped');
    }
  }

  showError(text: string): void {
    this.running(false, '');
    this.status.className = 'jp-layers-error';
    this.status.textContent = text;
  }

  /** Clear the previous answer and remember what the replies need; returns the status line while it runs. */
  protected abstract prepare(panel: NotebookPanel, document: IDocumentPayload): string;

  /** One reply that is not an error. */
  protected abstract receive(panel: NotebookPanel, message: IServerMessage): void;

  protected running(running: boolean, text: string): void {
    this._start.disabled = running;
    this._stop.disabled = !running;
    this.status.className = 'jp-layers-status-line';
    this.status.textContent = text;
  }

  protected readonly question: HTMLTextAreaElement;
  protected readonly buttons: HTMLElement;
  protected readonly status: HTMLElement;
  private readonly _layer: 'explore' | 'escalate';
  private readonly _start: HTMLButtonElement;
  private readonly _stop: HTMLButtonElement;
  private _stream = '';
}
