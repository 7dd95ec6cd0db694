/**
 * Layer 3 in the sidebar: ask a question, watch the agent's scratch steps appear in the notebook as they run.
 *
 * The agent runs on the server and its scratch code in a fork of the kernel (the notebook's variables are never
 * changed). Each step becomes a code cell tagged `jupyter-layers-scratch`, inserted below the cell that was
 * active when the exploration started, with the output the agent read. "Clean up" deletes exactly the tagged
 * cells in one undoable step; the findings can be kept as a markdown cell.
 */
import { NotebookPanel, INotebookTracker } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { cellIndex, documentPayload, insertScratchCell, removeScratchCells, setCellOutputs } from './cells';
import { IServerMessage, LayersConnection } from './connection';
import { button, element } from './dom';

export class ExplorePanel extends Widget {
  constructor(tracker: INotebookTracker, connection: LayersConnection, onFinished: () => void) {
    super();
    this.id = 'jupyter-layers-explore';
    this.title.label = 'Explore';
    this.addClass('jp-layers-panel');
    this._tracker = tracker;
    this._connection = connection;
    this._onFinished = onFinished;
    this._question = element('textarea', {
      className: 'jp-layers-question',
      placeholder: 'What should the agent find out? e.g. why is revenue higher after the merge?',
      rows: 3
    });
    this._start = button('Explore', () => void this.explore(), 'jp-layers-explore-start jp-mod-accept');
    this._stop = button('Stop', () => void this.stop(), 'jp-layers-explore-stop');
    this._clean = button('Clean up scratch cells', () => this.cleanUp(), 'jp-layers-explore-clean');
    this._stop.disabled = true;
    this._status = element('div', { className: 'jp-layers-status-line' });
    this._steps = element('ol', { className: 'jp-layers-steps' });
    this._narration = element('div', { className: 'jp-layers-narration' });
    this._findings = element('div', { className: 'jp-layers-findings' });
    this.node.append(
      this._question,
      element('div', { className: 'jp-layers-buttons' }, [this._start, this._stop, this._clean]),
      this._status,
      this._steps,
      this._narration,
      this._findings
    );
    this._question.addEventListener('keydown', event => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        void this.explore();
      }
    });
  }

  async explore(): Promise<void> {
    const panel = this._tracker.currentWidget;
    const document = documentPayload(panel);
    if (!panel || !document) {
      return this.showError('open a notebook first');
    }
    this._panel = panel;
    this._steps.replaceChildren();
    this._narration.textContent = '';
    this._findings.replaceChildren();
    this._scratch = [];
    this._anchor = document.cells[document.cell]?.id ?? '';
    this._running(true, 'exploring…');
    await this._connection.request(
      { type: 'explore', stream: this._stream(panel), ...document, question: this._question.value.trim() },
      message => this._receive(panel, message)
    );
  }

  async stop(): Promise<void> {
    if (this._panel) {
      await this._connection.cancel(this._stream(this._panel));
      this._running(false, 'stopped');
    }
  }

  cleanUp(): void {
    const panel = this._tracker.currentWidget;
    if (panel) {
      const removed = removeScratchCells(panel);
      this._status.className = 'jp-layers-status-line';
      this._status.textContent = `removed ${removed} scratch cell${removed === 1 ? '' : 's'}`;
    }
  }

  private _receive(panel: NotebookPanel, message: IServerMessage): void {
    if (message.type === 'text') {
      this._narration.textContent += message.text; // the agent thinking aloud before its next step
      return;
    }
    if (message.type === 'step' && message.phase === 'started') {
      this._narration.textContent = '';
      const after = this._scratch.length ? this._scratch[this._scratch.length - 1] : this._anchor;
      const index = after ? cellIndex(panel, after) + 1 : panel.content.model!.sharedModel.cells.length;
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
    } else if (message.type === 'notice') {
      this._status.textContent = message.text; // e.g. the sandbox could not fork and runs in the live namespace
    } else if (message.type === 'tool') {
      this._steps.append(
        element('li', { className: 'jp-layers-tool', textContent: `${message.name}: ${message.summary}` })
      );
    } else if (message.type === 'findings') {
      this._narration.textContent = '';
      this._showFindings(panel, message);
    } else if (message.type === 'error') {
      this.showError(message.message ?? 'the exploration failed');
    }
    if (message.done || message.type === 'error') {
      if (message.type !== 'error') {
        this._running(false, `${this._scratch.length} scratch cell${this._scratch.length === 1 ? '' : 's'} run`);
      }
      this._onFinished();
    }
  }

  private _showFindings(panel: NotebookPanel, message: IServerMessage): void {
    const insert = button(
      'Insert as markdown',
      () => {
        const after = this._scratch.length ? this._scratch[this._scratch.length - 1] : this._anchor;
        const index = after ? cellIndex(panel, after) + 1 : panel.content.model!.sharedModel.cells.length;
        panel.content.model!.sharedModel.insertCell(index, {
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

  private _stream(panel: NotebookPanel): string {
    return `explore:${panel.id}`;
  }

  private _tracker: INotebookTracker;
  private _connection: LayersConnection;
  private _onFinished: () => void;
  private _question: HTMLTextAreaElement;
  private _start: HTMLButtonElement;
  private _stop: HTMLButtonElement;
  private _clean: HTMLButtonElement;
  private _status: HTMLElement;
  private _steps: HTMLElement;
  private _narration: HTMLElement;
  private _findings: HTMLElement;
  private _panel: NotebookPanel | null = null;
  private _scratch: string[] = [];
  private _anchor = '';
}
