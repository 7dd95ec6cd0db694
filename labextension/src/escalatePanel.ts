/**
 * Layer 4 in the sidebar: the whole picture to the reasoning model, its answer streamed, its fixes as diffs.
 *
 * The server adds the kernel state, the last error and what the last exploration of this notebook found.
 * Thinking streams into a collapsed summary, the answer below it. Each `<fix cell="N">` becomes a diff with an
 * Apply button that changes that cell only (found by its id, so cells inserted meanwhile do not matter).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { applySource, ICellPayload, IDocumentPayload } from './cells';
import { IServerMessage, LayersConnection } from './connection';
import { button, diffView, element } from './dom';
import { QuestionPanel } from './questionPanel';

export class EscalatePanel extends QuestionPanel {
  constructor(tracker: INotebookTracker, connection: LayersConnection, onFinished: () => void) {
    super(
      {
        layer: 'escalate',
        label: 'Escalate',
        placeholder: 'Question for the reasoning model (empty: why does the last error happen, and how do I fix it?)'
      },
      tracker,
      connection,
      onFinished
    );
    this._thinkingText = element('div', { className: 'jp-layers-thinking-text' });
    this._thinkingSummary = element('summary', { textContent: 'Thinking' });
    this._thinking = element('details', { className: 'jp-layers-thinking' }, [
      this._thinkingSummary,
      this._thinkingText
    ]);
    this._answer = element('div', { className: 'jp-layers-answer' });
    this._fixes = element('div', { className: 'jp-layers-fixes' });
    this._thinking.hidden = true;
    this.node.append(this._thinking, this._answer, this._fixes);
  }

  protected prepare(panel: NotebookPanel, document: IDocumentPayload): string {
    this._cells = document.cells; // fixes name cells by their index in what was sent
    this._thinkingText.textContent = '';
    this._thinking.hidden = true;
    this._answer.textContent = '';
    this._fixes.replaceChildren();
    return 'asking the reasoning model…';
  }

  protected receive(panel: NotebookPanel, message: IServerMessage): void {
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
        this._fixes.append(this._fixCard(fix, this._cells[fix.cell]?.id, message.provenance));
      }
    }
    if (message.done) {
      this.running(false, message.cost ? `estimated cost ${message.cost}` : '');
    }
  }

  private _fixCard(fix: IServerMessage, cellId: string | undefined, provenance: Record<string, any>): HTMLElement {
    const apply = button(
      'Apply to cell',
      () => {
        const panel = this.tracker.currentWidget;
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

  private _cells: ICellPayload[] = [];
  private _thinking: HTMLDetailsElement;
  private _thinkingSummary: HTMLElement;
  private _thinkingText: HTMLElement;
  private _answer: HTMLElement;
  private _fixes: HTMLElement;
}
