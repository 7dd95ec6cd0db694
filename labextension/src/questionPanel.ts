/**
 * What the Explore, Build and Escalate tabs share: a question box, Start and Stop, and below them the run of the
 * current notebook: each notebook has its own view (status line, answer, the state its replies need) and its
 * own request on its own stream, so switching notebooks shows that notebook's run, and replies to a run in
 * another notebook go to that notebook's view. One run per notebook at a time: Start (and Ctrl+Enter) does
 * nothing while one is going; Stop cancels it and the server confirms with `cancelled`.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { documentPayload, IDocumentPayload } from './cells';
import { LayersConnection } from './connection';
import { button, element } from './dom';
import { IDoneReply, isLast, RequestPayload, ServerMessage } from './protocol';

export interface IQuestionPanelOptions {
  layer: 'explore' | 'build' | 'escalate';
  label: string;
  placeholder: string;
}

/** One notebook's run in a panel: what is shown for it, and whether its request is going. */
export class RunView {
  constructor(
    readonly panel: NotebookPanel,
    readonly stream: string
  ) {
    this.node.append(this.status);
  }

  readonly node = element('div', { className: 'jp-layers-run' });
  readonly status = element('div', { className: 'jp-layers-status-line' });
  running = false;
}

export abstract class QuestionPanel<V extends RunView> extends Widget {
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
    this.buttons = element('div', { className: 'jp-layers-buttons' }, [this._start, this._stop]);
    this._noNotebook = element('div', { className: 'jp-layers-status-line' });
    this._body = element('div', { className: 'jp-layers-runs' });
    this.node.append(this.question, this.buttons, this._body);
    tracker.currentChanged.connect(() => this._show());
    this._show();
  }

  /** Send the question about the current notebook, unless a run of it is going; replies go to its view. */
  async start(): Promise<void> {
    const panel = this.tracker.currentWidget;
    const document = documentPayload(panel);
    if (!panel || !document) {
      this._noNotebook.className = 'jp-layers-error';
      this._noNotebook.textContent = 'open a notebook first';
      return;
    }
    const view = this.viewFor(panel);
    if (view.running) {
      return; // one run per notebook: a second Ctrl+Enter does not start another
    }
    this.setRunning(view, true, this.prepare(view, document));
    await this.connection.request(this.payload(view, document), message => this._reply(view, message));
  }

  /** The request: the question about the document (the Build tab sends its task and check instead). */
  protected payload(view: V, document: IDocumentPayload): RequestPayload {
    const layer = this._layer as 'explore' | 'escalate';
    return { type: layer, stream: view.stream, ...document, question: this.question.value.trim() };
  }

  /** Stop the current notebook's run; the server ends it with `cancelled`. */
  async stop(): Promise<void> {
    const view = this.current;
    if (view?.running) {
      view.status.textContent = 'stopping…';
      await this.connection.cancel(view.stream);
    }
  }

  /** The current notebook's view, if it has one. */
  get current(): V | undefined {
    const panel = this.tracker.currentWidget;
    return panel ? this._views.get(panel.id) : undefined;
  }

  /** The view of a notebook, made when it is first needed and dropped (its run cancelled) when it closes. */
  protected viewFor(panel: NotebookPanel): V {
    let view = this._views.get(panel.id);
    if (!view) {
      const made = this.createView(panel, `${this._layer}:${panel.id}`);
      this._views.set(panel.id, made);
      panel.disposed.connect(() => {
        if (made.running) {
          void this.connection.cancel(made.stream);
        }
        this._views.delete(panel.id);
      });
      view = made;
    }
    return view;
  }

  showError(view: V, text: string): void {
    this.setRunning(view, false, '');
    view.status.className = 'jp-layers-error';
    view.status.textContent = text;
  }

  /** A fresh view for a notebook (its node starts with the status line). */
  protected abstract createView(panel: NotebookPanel, stream: string): V;

  /** Clear the view's previous answer and remember what the replies need; returns the status line while it runs. */
  protected abstract prepare(view: V, document: IDocumentPayload): string;

  /** One reply that is neither an error nor `cancelled`. */
  protected abstract receive(view: V, message: ServerMessage): void;

  /** The status line once the run is done. */
  protected abstract finished(view: V, message: IDoneReply): string;

  protected setRunning(view: V, running: boolean, text: string): void {
    view.running = running;
    view.status.className = 'jp-layers-status-line';
    view.status.textContent = text;
    if (view === this.current) {
      this._syncButtons();
    }
  }

  private _reply(view: V, message: ServerMessage): void {
    if (message.type === 'error') {
      this.showError(view, message.message);
    } else if (message.type === 'cancelled') {
      this.setRunning(view, false, 'stopped');
    } else {
      this.receive(view, message);
      if (message.type === 'done') {
        this.setRunning(view, false, this.finished(view, message));
      }
    }
    if (isLast(message)) {
      this._onFinished();
    }
  }

  private _show(): void {
    const panel = this.tracker.currentWidget;
    this._noNotebook.className = 'jp-layers-status-line';
    this._noNotebook.textContent = '';
    this._body.replaceChildren(panel ? this.viewFor(panel).node : this._noNotebook);
    this._syncButtons();
  }

  private _syncButtons(): void {
    const running = this.current?.running ?? false;
    this._start.disabled = running;
    this._stop.disabled = !running;
  }

  protected readonly question: HTMLTextAreaElement;
  protected readonly buttons: HTMLElement;
  private readonly _layer: 'explore' | 'build' | 'escalate';
  private readonly _start: HTMLButtonElement;
  private readonly _stop: HTMLButtonElement;
  private readonly _noNotebook: HTMLElement;
  private readonly _body: HTMLElement;
  private readonly _views = new Map<string, V>();
}
