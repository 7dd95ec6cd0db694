/**
 * Scratch cells look throwaway: every cell tagged `jupyter-layers-scratch` (inserted by the Explore panel, by
 * `%explore` in a saved notebook, or by `jupyter layers explore`) gets the `jp-layers-scratch` class. Proposals
 * not yet accepted (tagged `jupyter-layers-proposed`, by the Build tab or `jupyter layers build`) get
 * `jp-layers-proposed`.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { isScratch } from './cells';
import { isProposed } from './proposals';

export const SCRATCH_CLASS = 'jp-layers-scratch';
export const PROPOSED_CLASS = 'jp-layers-proposed';

/** Keep the classes true as cells come and go and as their tags change (a proposal accepted loses its tag). */
export function styleScratchCells(panel: NotebookPanel): void {
  const watched = new WeakSet<object>();
  let pending = false;
  const refresh = () => {
    pending = false;
    for (const cell of panel.content.widgets) {
      cell.toggleClass(SCRATCH_CLASS, isScratch(cell.model));
      cell.toggleClass(PROPOSED_CLASS, isProposed(cell.model));
      if (!watched.has(cell.model)) {
        watched.add(cell.model);
        cell.model.metadataChanged.connect(schedule);
      }
    }
  };
  // after the notebook has made the widgets of inserted cells (its own handler of the same change may run later)
  const schedule = () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(refresh);
    }
  };
  void panel.context.ready.then(() => {
    panel.content.model!.cells.changed.connect(schedule);
    refresh();
  });
}
