/**
 * A build's proposals in the notebook: code cells tagged `jupyter-layers-proposed`, inserted below the cell that
 * was active when the build started, each with the output of its verification run (in a fork: nothing ran in the
 * kernel), its provenance in `jupyter_layers.provenance` and what the taste check found in `jupyter_layers.taste`.
 * Accepting a cell makes it an ordinary, unrun cell (the tag, the fork's outputs and the taste notes go, the
 * provenance stays); rejecting deletes it. Inserting, accepting all and
 * rejecting all are each one transaction: one `notebook:undo-cell-action` undoes them.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { cellIndex } from './cells';
import { IProposalReply } from './protocol';

export const PROPOSED_TAG = 'jupyter-layers-proposed';

interface IMetadataHolder {
  getMetadata(key: string): any;
}

export function isProposed(cell: IMetadataHolder): boolean {
  const tags = cell.getMetadata('tags');
  return Array.isArray(tags) && tags.includes(PROPOSED_TAG);
}

/** Where new cells go: below the cell with id `anchor`, else at the end. */
function below(panel: NotebookPanel, anchor: string): number {
  const index = anchor ? cellIndex(panel, anchor) : -1;
  return index >= 0 ? index + 1 : panel.content.model!.sharedModel.cells.length;
}

/** Insert the proposal's cells below `anchor` in one transaction; their ids, in order. */
export function insertProposedCells(
  panel: NotebookPanel,
  anchor: string,
  proposal: Pick<IProposalReply, 'cells'>
): string[] {
  const model = panel.content.model!.sharedModel;
  const at = below(panel, anchor);
  const ids: string[] = [];
  model.transact(() => {
    proposal.cells.forEach((cell, offset) => {
      const inserted = model.insertCell(at + offset, {
        cell_type: 'code',
        source: cell.source,
        metadata: { tags: [PROPOSED_TAG], jupyter_layers: reviewNotes(cell) }
      });
      (inserted as any).setOutputs(cell.outputs);
      ids.push(inserted.id);
    });
  });
  return ids;
}

/** What a proposed cell's metadata keeps for the review: its provenance, and what the taste check found. */
function reviewNotes(cell: IProposalReply['cells'][number]): Record<string, any> {
  return cell.taste.length
    ? { provenance: { ...cell.provenance }, taste: cell.taste }
    : { provenance: { ...cell.provenance } };
}

/** The proposals among `ids` that are still in the notebook and still proposed, by index. */
function stillProposed(panel: NotebookPanel, ids: string[]): number[] {
  const cells = panel.content.model!.sharedModel.cells;
  return ids.map(id => cellIndex(panel, id)).filter(index => index >= 0 && isProposed(cells[index]));
}

/** Make proposed cells ordinary and unrun (tag and fork outputs gone, provenance kept); how many were accepted. */
export function acceptProposedCells(panel: NotebookPanel, ids: string[]): number {
  const model = panel.content.model!.sharedModel;
  const indices = stillProposed(panel, ids);
  model.transact(() => {
    for (const index of indices) {
      const cell = model.cells[index];
      const tags = (cell.getMetadata('tags') as string[]).filter(tag => tag !== PROPOSED_TAG);
      if (tags.length) {
        cell.setMetadata('tags', tags);
      } else {
        cell.deleteMetadata('tags');
      }
      const { taste, ...kept } = (cell.getMetadata('jupyter_layers') as Record<string, any>) ?? {};
      cell.setMetadata('jupyter_layers', kept); // the review's notes go with the review; the provenance stays
      (cell as any).setOutputs([]);
      (cell as any).execution_count = null;
    }
  });
  return indices.length;
}

/** Delete proposed cells (only those still proposed); how many were rejected. */
export function rejectProposedCells(panel: NotebookPanel, ids: string[]): number {
  const model = panel.content.model!.sharedModel;
  const indices = stillProposed(panel, ids).sort((a, b) => b - a);
  model.transact(() => indices.forEach(index => model.deleteCell(index)));
  return indices.length;
}
