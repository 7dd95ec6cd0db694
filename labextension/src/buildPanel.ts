/**
 * Layer 3 for a feature, in the sidebar: say what to build (and, optionally, a check the result must pass);
 * the agent's tries and each verification of its proposal show here, and the verified cells arrive in the
 * notebook below the active cell as proposals (proposals.ts) with the output of their fork run. Each card has
 * Accept and Reject; Accept all and Reject all act on the whole proposal. Nothing runs in the kernel until the
 * user runs an accepted cell. Each notebook has its own view (questionPanel.ts).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { IDocumentPayload } from './cells';
import { LayersConnection } from './connection';
import { button, element } from './dom';
import { acceptProposedCells, insertProposedCells, rejectProposedCells } from './proposals';
import { IDoneReply, IProposalHandoff, IProposalReply, RequestPayload, ServerMessage } from './protocol';
import { QuestionPanel, RunView } from './questionPanel';

/** One notebook's build: its tries, verifications, and the proposed cells it inserted there. */
class BuildView extends RunView {
  constructor(panel: NotebookPanel, stream: string) {
    super(panel, stream);
    this.node.append(this.sandbox, this.steps, this.narration, this.proposal);
  }

  readonly sandbox = element('div', { className: 'jp-layers-sandbox' });
  readonly steps = element('ol', { className: 'jp-layers-steps' });
  readonly narration = element('div', { className: 'jp-layers-narration' });
  readonly proposal = element('div', { className: 'jp-layers-proposal' });
  /** The id of the cell that was active when it started: the proposals go below it. */
  anchor = '';
  /** The ids of the proposed cells it inserted, in order. */
  proposed: string[] = [];
}

export class BuildPanel extends QuestionPanel<BuildView> {
  constructor(tracker: INotebookTracker, connection: LayersConnection, onFinished: () => void) {
    super(
      {
        layer: 'build',
        label: 'Build',
        placeholder:
          'What should the agent build? e.g. add a revenue column (price times quantity) and plot it by month'
      },
      tracker,
      connection,
      onFinished
    );
    this.check = element('input', {
      className: 'jp-layers-check',
      placeholder: 'optional check, e.g. assert revenue.notna().all()'
    });
    this.question.after(this.check);
  }

  protected payload(view: BuildView, document: IDocumentPayload): RequestPayload {
    return {
      type: 'build',
      stream: view.stream,
      ...document,
      task: this.question.value.trim(),
      check: this.check.value.trim()
    };
  }

  protected createView(panel: NotebookPanel, stream: string): BuildView {
    return new BuildView(panel, stream);
  }

  protected prepare(view: BuildView, document: IDocumentPayload): string {
    view.sandbox.textContent = '';
    view.steps.replaceChildren();
    view.narration.textContent = '';
    view.proposal.replaceChildren();
    view.anchor = document.cells[document.cell]?.id ?? '';
    view.proposed = [];
    return 'building…';
  }

  protected receive(view: BuildView, message: ServerMessage): void {
    if (message.type === 'text') {
      view.narration.textContent += message.text;
    } else if (message.type === 'step' && message.phase === 'started') {
      view.narration.textContent = '';
      view.steps.append(
        element('li', { className: 'jp-layers-step jp-mod-running' }, [
          element('div', { className: 'jp-layers-step-note', textContent: message.note || `try ${message.number}` }),
          element('pre', { className: 'jp-layers-step-code', textContent: message.code })
        ])
      );
    } else if (message.type === 'step' && message.phase === 'finished') {
      const item = view.steps.querySelectorAll('.jp-layers-step')[message.number - 1];
      item?.classList.remove('jp-mod-running');
      item?.classList.add(message.error || message.timed_out ? 'jp-mod-error' : 'jp-mod-ok');
    } else if (message.type === 'verify' && message.phase === 'started') {
      view.narration.textContent = '';
      const cells = `${message.cells} cell${message.cells === 1 ? '' : 's'}`;
      view.steps.append(
        element('li', {
          className: 'jp-layers-verify jp-mod-running',
          textContent: `verifying proposal ${message.attempt} (${cells}) in a fresh fork…`
        })
      );
    } else if (message.type === 'verify' && message.phase === 'finished') {
      const item = view.steps.querySelectorAll('.jp-layers-verify')[message.attempt - 1];
      item?.classList.remove('jp-mod-running');
      item?.classList.add(message.failure ? 'jp-mod-error' : message.unverified ? 'jp-mod-warning' : 'jp-mod-ok');
      if (item) {
        item.textContent += message.failure
          ? ` ✗ ${message.failure.split('\n')[0]}`
          : message.unverified
            ? ` – not run: this kernel cannot fork safely (${message.unverified})`
            : ' ✓ ran clean';
      }
    } else if (message.type === 'sandbox') {
      view.sandbox.textContent = `tries and verification: ${message.protections}`;
    } else if (message.type === 'notice') {
      view.status.textContent = message.text;
    } else if (message.type === 'tool') {
      view.steps.append(
        element('li', { className: 'jp-layers-tool', textContent: `${message.name}: ${message.summary}` })
      );
    } else if (message.type === 'proposal') {
      view.narration.textContent = '';
      view.proposed = insertProposedCells(view.panel, view.anchor, message);
      view.proposal.replaceChildren(proposalBlock(view.panel, message, view.proposed));
    }
  }

  protected finished(view: BuildView, message: IDoneReply): string {
    const cells = view.proposed.length;
    return `${cells} cell${cells === 1 ? '' : 's'} proposed below the active cell: accept or reject them`;
  }

  /** A proposal the kernel handed over (`%build` in a cell, an outside agent through MCP), already inserted: shown
   * above the notebook's earlier proposals, which stay to be decided. */
  showHandedOver(panel: NotebookPanel, proposal: IProposalHandoff, ids: string[]): void {
    const view = this.viewFor(panel);
    view.proposed = ids;
    view.status.className = 'jp-layers-status-line';
    view.status.textContent = `${ids.length} cell${ids.length === 1 ? '' : 's'} proposed from the kernel: accept or reject them`;
    view.proposal.prepend(proposalBlock(view.panel, proposal, ids));
  }

  private readonly check: HTMLInputElement;
}

/** One proposal's cards: the proposal (Accept all, Reject all) and each cell (Accept, Reject). */
function proposalBlock(panel: NotebookPanel, message: Omit<IProposalReply, 'type' | 'id'>, ids: string[]): HTMLElement {
  const status = element('div', { className: 'jp-layers-status-line' });
  const cards = message.cells.map((cell, index) => {
    const id = ids[index];
    const card = element('div', { className: 'jp-layers-card jp-layers-proposed-card' });
    const decide = (act: (panel: NotebookPanel, ids: string[]) => number, verb: string) => () => {
      decided(card, act(panel, [id]) ? verb : 'no longer proposed');
    };
    card.append(
      element('h3', { textContent: `Proposed cell ${index + 1} of ${message.cells.length}` }),
      element('pre', { className: 'jp-layers-step-code', textContent: cell.source }),
      ...cell.taste.map(line => element('div', { className: 'jp-layers-warning', textContent: `taste: ${line}` })),
      element('div', { className: 'jp-layers-buttons' }, [
        button('Accept', decide(acceptProposedCells, 'accepted'), 'jp-layers-accept-cell jp-mod-accept'),
        button('Reject', decide(rejectProposedCells, 'rejected'), 'jp-layers-reject-cell')
      ])
    );
    return card;
  });
  const all = (act: (panel: NotebookPanel, ids: string[]) => number, verb: string) => () => {
    const count = act(panel, ids);
    status.textContent = `${verb} ${count} cell${count === 1 ? '' : 's'}`;
    cards.forEach(card => decided(card, ''));
  };
  return element('div', { className: 'jp-layers-proposal-block' }, [
    element('div', { className: 'jp-layers-card' }, [
      element('h3', { textContent: 'Proposal' }),
      message.summary ? element('div', { className: 'jp-layers-answer', textContent: message.summary }) : '',
      element('div', {
        className: message.cells[0]?.provenance.verified.startsWith('not verified')
          ? 'jp-layers-warning'
          : 'jp-layers-verified',
        textContent: message.cells[0]?.provenance.verified ?? '' // how, as each cell's metadata records it
      }),
      element('div', { className: 'jp-layers-buttons' }, [
        button('Accept all', all(acceptProposedCells, 'accepted'), 'jp-layers-accept-all jp-mod-accept'),
        button('Reject all', all(rejectProposedCells, 'rejected'), 'jp-layers-reject-all')
      ]),
      status
    ]),
    ...cards
  ]);
}

/** A card whose cell was accepted or rejected: its buttons off, what happened said. */
function decided(card: HTMLElement, text: string): void {
  card.classList.add('jp-mod-decided');
  card.querySelectorAll('button').forEach(node => (node.disabled = true));
  if (text) {
    card.append(element('div', { className: 'jp-layers-status-line', textContent: text }));
  }
}
