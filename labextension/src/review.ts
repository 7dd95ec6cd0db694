/**
 * Reviewing a proposed cell source as a `@codemirror/merge` unified diff inside the cell's own editor.
 *
 * The proposal is written into the cell and the original is kept as the merge view's "original document":
 * deleted lines show as read-only widgets, each chunk has Accept / Reject buttons, and a bar above the editor
 * has Accept all / Reject all. When no chunk is left the review ends. Rejecting everything writes the
 * original back exactly; provenance is recorded only when some change was kept.
 */
import { Cell } from '@jupyterlab/cells';
import { CodeMirrorEditor } from '@jupyterlab/codemirror';
import { getChunks, unifiedMergeView } from '@codemirror/merge';
import { Compartment, StateEffect } from '@codemirror/state';
import { EditorView } from '@codemirror/view';

import { button, element } from './dom';

export type ReviewOutcome = 'accepted' | 'rejected' | 'partial';

export interface IReviewOptions {
  title: string;
  warning?: string;
  provenance: Record<string, any>;
  onDone?: (outcome: ReviewOutcome) => void;
}

const REVIEWING = 'jp-layers-mod-reviewing';

/** Show `proposal` against the cell's current source; resolves when the user has decided every chunk. */
export function reviewInCell(cell: Cell, proposal: string, options: IReviewOptions): Promise<ReviewOutcome> {
  const editor = cell.editor as CodeMirrorEditor;
  const view = editor.editor;
  const shared = cell.model.sharedModel;
  const original = shared.getSource();
  const compartment = new Compartment();
  let finished = false;

  return new Promise(resolve => {
    const finish = (outcome: ReviewOutcome) => {
      if (finished) {
        return;
      }
      finished = true;
      view.dispatch({ effects: compartment.reconfigure([]) });
      bar.remove();
      cell.node.classList.remove(REVIEWING);
      if (outcome === 'rejected') {
        shared.setSource(original);
      } else {
        const layers = (shared.getMetadata('jupyter_layers') as Record<string, any>) ?? {};
        shared.setMetadata('jupyter_layers', { ...layers, provenance: options.provenance });
      }
      options.onDone?.(outcome);
      resolve(outcome);
    };

    const bar = element('div', { className: 'jp-layers-review-bar' }, [
      element('span', { className: 'jp-layers-review-title', textContent: options.title }),
      options.warning ? element('span', { className: 'jp-layers-warning', textContent: options.warning }) : '',
      button('Accept all', () => finish('accepted'), 'jp-layers-accept-all'),
      button('Reject all', () => finish('rejected'), 'jp-layers-reject-all')
    ]);
    cell.node.classList.add(REVIEWING);
    cell.inputArea!.node.parentElement!.before(bar); // above the input row (prompt, editor)

    shared.setSource(proposal);
    view.dispatch({
      effects: StateEffect.appendConfig.of(
        compartment.of([
          unifiedMergeView({ original, mergeControls: true, allowInlineDiffs: false, gutter: true }),
          EditorView.updateListener.of(update => {
            if (finished || !update.transactions.length) {
              return;
            }
            const chunks = getChunks(update.state)?.chunks ?? [];
            if (chunks.length === 0) {
              const kept = update.state.doc.toString();
              // Every chunk decided: all rejected gives back the original, all accepted the proposal.
              setTimeout(() => finish(kept === original ? 'rejected' : kept === proposal ? 'accepted' : 'partial'));
            }
          })
        ])
      )
    });
  });
}
