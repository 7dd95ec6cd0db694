/**
 * Layer 4 in the sidebar: the whole picture to the reasoning model, its answer streamed, its fixes as diffs.
 *
 * The server adds the kernel state, the last error and what the last exploration of this notebook found.
 * Thinking streams into a collapsed summary, the answer below it. The server parses the fixes and sends each
 * as a diff (protocol.ts `IFix`) with an Apply button that changes that cell only (found by its id, so cells
 * inserted meanwhile do not matter). Each notebook has its own view (questionPanel.ts).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { applySource, IDocumentPayload } from './cells';
import { LayersConnection } from './connection';
import { button, diffView, element } from './dom';
import { fixCellId, fixProvenance } from './fixes';
import { ICell, IDoneReply, IEscalateProvenance, IFix, ServerMessage } from './protocol';
import { QuestionPanel, RunView } from './questionPanel';

/** One notebook's escalation: thinking, answer, fixes, and the cells as sent (fixes name cells by index). */
class EscalateView extends RunView {
  constructor(panel: NotebookPanel, stream: string) {
    super(panel, stream);
    this.thinking.hidden = true;
    this.node.append(this.thinking, this.answer, this.fixes);
  }

  readonly thinkingText = element('div', { className: 'jp-layers-thinking-text' });
  readonly thinkingSummary = element('summary', { textContent: 'Thinking' });
  readonly thinking = element('details', { className: 'jp-layers-thinking' }, [
    this.thinkingSummary,
    this.thinkingText
  ]);
  readonly answer = element('div', { className: 'jp-layers-answer' });
  readonly fixes = element('div', { className: 'jp-layers-fixes' });
  cells: ICell[] = [];
}

export class EscalatePanel extends QuestionPanel<EscalateView> {
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
  }

  protected createView(panel: NotebookPanel, stream: string): EscalateView {
    return new EscalateView(panel, stream);
  }

  protected prepare(view: EscalateView, document: IDocumentPayload): string {
    view.cells = document.cells;
    view.thinkingText.textContent = '';
    view.thinking.hidden = true;
    view.answer.textContent = '';
    view.fixes.replaceChildren();
    return 'asking the reasoning model…';
  }

  protected receive(view: EscalateView, message: ServerMessage): void {
    if (message.type === 'thinking') {
      view.thinking.hidden = false;
      view.thinkingText.textContent += message.text;
      view.thinkingSummary.textContent = `Thinking (${view.thinkingText.textContent!.length.toLocaleString()} characters)`;
    } else if (message.type === 'text') {
      view.answer.textContent += message.text;
    } else if (message.type === 'fixes') {
      view.answer.textContent = message.answer; // the fix blocks are pointers to the diffs below
      for (const fix of message.fixes) {
        view.fixes.append(this._fixCard(view, fix, message.provenance));
      }
    }
  }

  protected finished(view: EscalateView, message: IDoneReply): string {
    return message.cost ? `estimated cost ${message.cost}` : '';
  }

  private _fixCard(view: EscalateView, fix: IFix, provenance: IEscalateProvenance): HTMLElement {
    const cellId = fixCellId(fix, view.cells);
    const apply = button(
      'Apply to cell',
      () => {
        if (cellId && applySource(view.panel, cellId, fix.after, fixProvenance(provenance, fix))) {
          apply.disabled = true;
          apply.textContent = 'Applied';
        } else {
          this.showError(view, `cell ${fix.cell} is no longer in the notebook`);
        }
      },
      'jp-layers-apply-fix'
    );
    return element('div', { className: 'jp-layers-card jp-layers-fix-card' }, [
      element('h3', { textContent: `Fix for cell ${fix.cell}` }),
      fix.syntax_error
        ? element('div', { className: 'jp-layers-warning', textContent: `does not parse: ${fix.syntax_error}` })
        : '',
      ...fix.taste.map(line => element('div', { className: 'jp-layers-warning', textContent: line })),
      diffView(fix.diff),
      apply
    ]);
  }
}
