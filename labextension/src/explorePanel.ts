/**
 * Layer 3 in the sidebar: ask a question, watch the agent's scratch steps appear in the notebook as they run.
 *
 * The agent runs on the server and its scratch code in a fork of the kernel (the notebook's variables are never
 * changed). Each step becomes a code cell tagged `jupyter-layers-scratch`, inserted below the cell that was
 * active when the exploration started, with the output the agent read. "Clean up" deletes exactly the tagged
 * cells in one undoable step; the findings can be kept as a markdown cell. Each notebook has its own
 * exploration view (questionPanel.ts), so its scratch cells and findings stay with it. "Remember as a rule" asks
 * the server for a one-line project rule from the findings, shown for editing; "Add to AGENTS.md" writes it to
 * the AGENTS.md nearest the notebook (`remember`, `remember_accept` in protocol.ts).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { cellIndex, IDocumentPayload, insertScratchCell, removeScratchCells, setCellOutputs } from './cells';
import { LayersConnection } from './connection';
import { button, element } from './dom';
import { IDoneReply, IFindingsReply, IRuleReply, ServerMessage } from './protocol';
import { QuestionPanel, RunView } from './questionPanel';

/** One notebook's exploration: its steps, findings, and the scratch cells it inserted there. */
class ExploreView extends RunView {
  constructor(panel: NotebookPanel, stream: string) {
    super(panel, stream);
    this.node.append(this.sandbox, this.steps, this.narration, this.findings);
  }

  readonly sandbox = element('div', { className: 'jp-layers-sandbox' });
  readonly steps = element('ol', { className: 'jp-layers-steps' });
  readonly narration = element('div', { className: 'jp-layers-narration' });
  readonly findings = element('div', { className: 'jp-layers-findings' });
  /** The ids of this exploration's scratch cells, by step. */
  scratch: string[] = [];
  /** The id of the cell that was active when it started: the first scratch cell goes below it. */
  anchor = '';
}

export class ExplorePanel extends QuestionPanel<ExploreView> {
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
  }

  cleanUp(): void {
    const panel = this.tracker.currentWidget;
    if (panel) {
      const removed = removeScratchCells(panel);
      const view = this.viewFor(panel);
      view.status.className = 'jp-layers-status-line';
      view.status.textContent = `removed ${removed} scratch cell${removed === 1 ? '' : 's'}`;
    }
  }

  protected createView(panel: NotebookPanel, stream: string): ExploreView {
    return new ExploreView(panel, stream);
  }

  protected prepare(view: ExploreView, document: IDocumentPayload): string {
    view.sandbox.textContent = '';
    view.steps.replaceChildren();
    view.narration.textContent = '';
    view.findings.replaceChildren();
    view.scratch = [];
    view.anchor = document.cells[document.cell]?.id ?? '';
    return 'exploring…';
  }

  protected receive(view: ExploreView, message: ServerMessage): void {
    const panel = view.panel;
    if (message.type === 'text') {
      view.narration.textContent += message.text; // the agent thinking aloud before its next step
    } else if (message.type === 'step' && message.phase === 'started') {
      view.narration.textContent = '';
      const index = insertionIndex(view);
      view.scratch.push(insertScratchCell(panel, index, message.code, message.exploration, message.number));
      view.steps.append(
        element('li', { className: 'jp-layers-step jp-mod-running' }, [
          element('div', { className: 'jp-layers-step-note', textContent: message.note || `step ${message.number}` }),
          element('pre', { className: 'jp-layers-step-code', textContent: message.code })
        ])
      );
    } else if (message.type === 'step' && message.phase === 'finished') {
      setCellOutputs(panel, view.scratch[message.number - 1], message.outputs);
      const item = view.steps.children[message.number - 1];
      item?.classList.remove('jp-mod-running');
      item?.classList.add(message.error || message.timed_out ? 'jp-mod-error' : 'jp-mod-ok');
    } else if (message.type === 'sandbox') {
      view.sandbox.textContent = `scratch cells: ${message.protections}`; // what protects them, from the kernel
    } else if (message.type === 'notice') {
      view.status.textContent = message.text; // e.g. the sandbox could not fork and runs in the live namespace
    } else if (message.type === 'tool') {
      view.steps.append(
        element('li', { className: 'jp-layers-tool', textContent: `${message.name}: ${message.summary}` })
      );
    } else if (message.type === 'findings') {
      view.narration.textContent = '';
      showFindings(view, message, this.connection);
    }
  }

  protected finished(view: ExploreView, message: IDoneReply): string {
    return `${view.scratch.length} scratch cell${view.scratch.length === 1 ? '' : 's'} run`;
  }
}

/** Below the last scratch cell of this exploration, else below the cell that was active when it started. */
function insertionIndex(view: ExploreView): number {
  const after = view.scratch.length ? view.scratch[view.scratch.length - 1] : view.anchor;
  return after ? cellIndex(view.panel, after) + 1 : view.panel.content.model!.sharedModel.cells.length;
}

function showFindings(view: ExploreView, message: IFindingsReply, connection: LayersConnection): void {
  const insert = button(
    'Insert as markdown',
    () => {
      view.panel.content.model!.sharedModel.insertCell(insertionIndex(view), {
        cell_type: 'markdown',
        source: message.markdown,
        metadata: { jupyter_layers: { exploration: message.exploration, findings: true } }
      });
      insert.disabled = true;
    },
    'jp-layers-insert-findings'
  );
  view.findings.replaceChildren(
    element('div', { className: 'jp-layers-card' }, [
      element('h3', { textContent: message.complete ? 'Findings' : 'Findings (unfinished)' }),
      element('div', { className: 'jp-layers-answer', textContent: message.answer }),
      element(
        'ul',
        {},
        message.evidence.map(item => element('li', { textContent: item }))
      ),
      message.fix ? element('pre', { className: 'jp-layers-fix', textContent: message.fix }) : '',
      insert,
      message.complete ? rememberButton(view, connection) : ''
    ])
  );
}

/**
 * "Remember as a rule": the server proposes a one-line rule from the findings; the user edits it in a single-line
 * input and adds it to the AGENTS.md nearest the notebook, or dismisses it. A status line says what happened.
 */
function rememberButton(view: ExploreView, connection: LayersConnection): HTMLElement {
  const stream = `remember:${view.stream}`;
  const path = view.panel.context.path;
  const status = element('div', { className: 'jp-layers-status-line' });
  const proposal = element('div', { className: 'jp-layers-remember-proposal' });
  const say = (text: string, error = false): void => {
    status.className = error ? 'jp-layers-error' : 'jp-layers-status-line';
    status.textContent = text;
  };
  const propose = (rule: IRuleReply): void => {
    const input = element('input', { className: 'jp-layers-remember-rule', type: 'text', value: rule.text });
    const accept = button(
      'Add to AGENTS.md',
      () => {
        const text = input.value.replace(/\s+/g, ' ').trim();
        if (!text) {
          say('the rule is empty', true);
          return;
        }
        accept.disabled = true;
        say(`adding to ${rule.file}…`);
        void connection.request({ type: 'remember_accept', stream, path, rule: text }, reply => {
          if (reply.type === 'notice') {
            say(reply.text); // "added to reports/AGENTS.md", or "already in ..."
            proposal.replaceChildren();
            remember.disabled = false;
          } else if (reply.type === 'error' || reply.type === 'cancelled') {
            say(reply.type === 'error' ? reply.message : 'cancelled', true);
            accept.disabled = false;
          }
        });
      },
      'jp-layers-remember-accept jp-mod-accept'
    );
    const dismiss = button(
      'Dismiss',
      () => {
        proposal.replaceChildren();
        say('');
        remember.disabled = false;
      },
      'jp-layers-remember-dismiss'
    );
    proposal.replaceChildren(
      input,
      element('div', { className: 'jp-layers-remember-file', textContent: `goes to ${rule.file}` }),
      element('div', { className: 'jp-layers-buttons' }, [accept, dismiss])
    );
    say('');
    input.focus();
  };
  const remember = button(
    'Remember as a rule',
    () => {
      remember.disabled = true;
      proposal.replaceChildren();
      say('proposing a rule…');
      void connection.request({ type: 'remember', stream, path }, reply => {
        if (reply.type === 'rule') {
          propose(reply);
        } else if (reply.type === 'error' || reply.type === 'cancelled') {
          say(reply.type === 'error' ? reply.message : 'cancelled', true);
          remember.disabled = false;
        }
      });
    },
    'jp-layers-remember'
  );
  return element('div', { className: 'jp-layers-remember-section' }, [remember, proposal, status]);
}
