/**
 * Layer 4 in the sidebar: the whole picture to the reasoning model, its answer streamed, its fixes as diffs.
 *
 * The server adds the kernel state, the last error and what the last exploration of this notebook found.
 * Thinking streams into a collapsed summary, the answer below it. Each `<fix cell="N">` becomes a diff with an
 * Apply button that changes that cell only (found by its id, so cells inserted meanwhile do not matter).
 */
import { INotebookTracker } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { applySource, documentPayload, ICellPayload } from './cells';
import { IServerMessage, LayersConnection } from './connection';
import { button, diffView, element } from './dom';

export class EscalatePanel extends Widget {
  constructor(tracker: INotebookTracker, connection: LayersConnection, onFinished: () => void) {
    super();
    this.id = 'jupyter-layers-escalate';
    this.title.label = 'Escalate';
    this.addClass('jp-layers-panel');
    this._tracker = tracker;
    this._connection = connection;
    this._onFinished = onFinished;
    this._question = element('textarea', {
      className: 'jp-layers-question',
      placeholder: 'Question for the reasoning model (empty: why does the last error happen, and how do I fix it?)',
      rows: 3
    });
    this._start = button('Escalate', () => void this.escalate(), 'jp-layers-escalate-start jp-mod-accept');
    this._stop = button('Stop', () => void this.stop(), 'jp-layers-escalate-stop');
    this._stop.disabled = true;
    this._status = element('div', { className: 'jp-layers-status-line' });
    this._thinkingText = element('div', { className: 'jp-layers-thinking-text' });
    this._thinkingSummary = element('summary', { textContent: 'Thinking' });
    this._thinking = element('details', { className: 'jp-layers-thinking' }, [
      this._thinkingSummary,
      this._thinkingText
    ]);
    this._answer = element('div', { className: 'jp-layers-answer' });
    this._fixes = element('div', { className: 'jp-layers-fixes' });
    this._thinking.hidden = true;
    this.node.append(
      this._question,
      element('div', { className: 'jp-layers-buttons' }, [this._start, this._stop]),
      this._status,
      this._thinking,
      this._answer,
      this._fixes
    );
  }

  async escalate(): Promise<void> {
    const panel = this._tracker.currentWidget;
    const document = documentPayload(panel);
    if (!panel || !document) {
      return this.showError('open a notebook first');
    }
    const cells: ICellPayload[] = document.cells;
    this._thinkingText.textContent = '';
    this._thinking.hidden = true;
    this._answer.textContent = '';
    this._fixes.replaceChildren();
    this._running(true, 'asking the reasoning model…');
    const stream = `escalate:${panel.id}`;
    this._streamKey = stream;
    await this._connection.request(
      { type: 'escalate', stream, ...document, question: this._question.value.trim() },
      message => this._receive(message, cells)
    );
  }

  async stop(): Promise<void> {
    if (this._streamKey) {
      await this._connection.cancel(this._streamKey);
      this._running(false, 'stopped');
    }
  }

  private _receive(message: IServerMessage, cells: ICellPayload[]): void {
    if (message.type === 'thinking') {
      this._thinking.hidden = false;
      this._thinkingText.textContent += message.text;
      this._thinkingSummary.textContent = `Thinking (${this._thinkingText.textContent!.length.toLocaleString()} characters)`;
    } else if (message.type === 'text') {
      this._answer.textContent += message.text;
    } else if (message.type === 'fixes') {
      // The fixes are shown as diffs below; in the answer a pointer to them reads better than the raw blocks.
      this._answer.textContent = this._answer.textContent!.replace(
        /<fix cell="(\d+)">[\s\S]*?<\/fix>/g,
        '[fix for cell $1: see below]'
      );
      for (const fix of message.fixes) {
        this._fixes.append(this._fixCard(fix, cells[fix.cell]?.id, message.provenance));
      }
    } else if (message.type === 'error') {
      this.showError(message.message ?? 'the escalation failed');
    }
    if (message.done) {
      this._running(false, message.cost ? `estimated cost ${message.cost}` : '');
    }
    if (message.done || message.type === 'error') {
      this._onFinished();
    }
  }

  private _fixCard(fix: IServerMessage, cellId: string | undefined, provenance: Record<string, any>): HTMLElement {
    const apply = button(
      'Apply to cell',
      () => {
        const panel = this._tracker.currentWidget;
        if (panel && cellId && applySource(panel, cellId, fix.after, { ...provenance, cell: fix.cell })) {
          apply.disabled = true;
          apply.textContent = 'Applied';
        } else {
          this.showError(`cell ${fix.cell} is no longer in the notebook`);
        }
      },
      'jp-layers-apply-fix'
    );
    return element('div', { className: 'jp-layers-card jp-layers-fix-card' }, [
      element('h3', { textContent: `Fix for cell ${fix.cell}` }),
      fix.syntax_error
        ? element('div', { className: 'jp-layers-warning', textContent: `does not parse: ${fix.syntax_error}` })
        : '',
      diffView(fix.diff),
      apply
    ]);
  }

  showError(text: string): void {
    this._running(false, '');
    this._status.className = 'jp-layers-error';
    this._status.textContent = text;
  }

  private _running(running: boolean, text: string): void {
    this._start.disabled = running;
    this._stop.disabled = !running;
    this._status.className = 'jp-layers-status-line';
    this._status.textContent = text;
  }

  private _tracker: INotebookTracker;
  private _connection: LayersConnection;
  private _onFinished: () => void;
  private _question: HTMLTextAreaElement;
  private _start: HTMLButtonElement;
  private _stop: HTMLButtonElement;
  private _status: HTMLElement;
  private _thinking: HTMLDetailsElement;
  private _thinkingSummary: HTMLElement;
  private _thinkingText: HTMLElement;
  private _answer: HTMLElement;
  private _fixes: HTMLElement;
  private _streamKey = '';
}
