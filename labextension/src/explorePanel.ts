/**
 * Layer 3 in the sidebar: ask a question, watch the agent's scratch steps appear in the notebook as they run.
 *
 * The agent runs on the server and its scratch code in a fork of the kernel (the notebook's variables are never
 * changed). Each step becomes a code cell tagged `jupyter-layers-scratch`, inserted below the cell that was
 * active when the exploration started, with the output the agent read. "Clean up" deletes exactly the tagged
 * cells in one undoable step; the findings can be kept as a markdown cell.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { cellIndex, IDocumentPayload, insertScratchCell, removeScratchCells, setCellOutputs } from './cells';
import { IServerMessage, LayersConnection } from './connection';
import { button, element } from './dom';
import { QuestionPanel } from './questionPanel';

export class ExplorePanel extends QuestionPanel {
  constructor(tracker: INotebookTracker, connection: LayersConnection, onFinished: () => void) {
    super(
      {
        layer: 'explore',
        label: 'Explore',
        placeholder: 'What should the agent find out? e.g. why is revenue higher after the merge?'
      },
      tracker,
      connection,
      onFinished
    );
    this.buttons.append(button('Clean up scratch cells', () => this.cleanUp(), 'jp-layers-explore-clean'));
    this._sandbox = element('div', { className: 'jp-layers-sandbox' });
    this._steps = element('ol', { className: 'jp-layers-steps' });
    this._narration = element('div', { className: 'jp-layers-narration' });
    this._findings = element('div', { className: 'jp-layers-findings' });
    this.node.append(this._sandbox, this._steps, this._narration, this._findings);
  }

  cleanUp(): void {
    const panel = this.tracker.currentWidget;
    if (panel) {
      const removed = removeScratchCells(panel);
      this.status.className = 'jp-layers-status-line';
      this.status.textContent = `removed ${removed} scratch cell${removed === 1 ? '' : 's'}`;
    }
  }

  protected prepare(panel: NotebookPanel, document: IDocumentPayload): string {
    this._sandbox.textContent = '';
    this._steps.replaceChildren();
    this._narration.textContent = '';
    this._findings.replaceChildren();
    this._scratch = [];
    this._anchor = document.cells[document.cell]?.id ?? '';
    return 'exploring…';
  }

  protected receive(panel: NotebookPanel, message: IServerMessage): void {
    if (message.type === 'text') {
      this._narration.textContent += message.text; // the agent thinking aloud before its next step
    } else if (message.type === 'step' && message.phase === 'started') {
      this._narration.textContent = '';
      const index = this._insertionIndex(panel);
      this._scratch.push(insertScratchCell(panel, index, message.code, message.exploration, message.number));
      this._steps.append(
        element('li', { className: 'jp-layers-step jp-mod-running' }, [
          element('div', { className: 'jp-layers-step-note', textContent: message.note || `step ${message.number}` }),
          element('pre', { className: 'jp-layers-step-code', textContent: message.code })
        ])
      );
    } else if (message.type === 'step' && message.phase === 'finished') {
      setCellOutputs(panel, this._scratch[message.number - 1], message.outputs);
      const item = this._steps.children[message.number - 1];
      item?.classList.remove('jp-mod-running');
      item?.classList.add(message.error || message.timed_out ? 'jp-mod-error' : 'jp-mod-ok');
    } else if (message.type === 'sandbox') {
      this._sandbox.textContent = `scratch cells: ${message.protections}`; // what protects them, from the kernel
    } else if (message.type === 'notice') {
      this.status.textContent = message.text; // e.g. the sandbox could not fork and runs in the live namespace
    } else if (message.type === 'tool') {
      this._steps.append(
        element('li', { className: 'jp-layers-tool', textContent: `${message.name}: ${message.summary}` })
      );
    } else if (message.type === 'findings') {
      this._narration.textContent = '';
      this._showFindings(panel, message);
    }
    if (message.done) {
      this.running(false, `${this._scratch.length} scratch cell${this._scratch.length === 1 ? '' : 's'} run`);
    }
  }

  /** Below the last scratch cell of this exploration, else below the cell that was active when it started. */
  private _insertionIndex(panel: NotebookPanel): number {
    const after = this._scratch.length ? this._scratch[this._scratch.length - 1] : this._anchor;
    return after ? cellIndex(panel, after) + 1 : panel.content.model!.sharedModel.cells.length;
  }

  private _showFindings(panel: NotebookPanel, message: IServerMessage): void {
    const insert = button(
      'Insert as markdown',
      () => {
        panel.content.model!.sharedModel.insertCell(this._insertionIndex(panel), {
          cell_type: 'markdown',
          source: message.markdown,
          metadata: { jupyter_layers: { exploration: message.exploration, findings: true } }
        });
        insert.disabled = true;
      },
      'jp-layers-insert-findings'
    );
    this._findings.replaceChildren(
      element('div', { className: 'jp-layers-card' }, [
        element('h3', { textContent: message.complete ? 'Findings' : 'Findings (unfinished)' }),
        element('div', { className: 'jp-layers-answer', textContent: message.answer }),
        element(
          'ul',
          {},
          (message.evidence as string[]).map(item => element('li', { textContent: item }))
        ),
        message.fix ? element('pre', { className: 'jp-layers-fix', textContent: message.fix }) : '',
        insert
      ])
    );
  }

  private _sandbox: HTMLElement;
  private _steps: HTMLElement;
  private _narration: HTMLElement;
  private _findings: HTMLElement;
  private _scratch: string[] = [];
  private _anchor = '';
}
