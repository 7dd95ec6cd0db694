/**
 * Scratch cells look throwaway: every cell tagged `jupyter-layers-scratch` (inserted by the Explore panel, by
 * `%explore` in a saved notebook, or by `jupyter layers explore`) gets the `jp-layers-scratch` class.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { isScratch } from './cells';

export const SCRATCH_CLASS = 'jp-layers-scratch';

export function styleScratchCells(panel: NotebookPanel): void {
  const refresh = () => {
    for (const cell of panel.content.widgets) {
      cell.toggleClass(SCRATCH_CLASS, isScratch(cell.model));
    }
  };
  panel.content.modelContentChanged.connect(refresh);
  panel.context.ready.then(refresh);
}
