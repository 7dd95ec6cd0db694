/**
 * Layer 2 in JupyterLab: edit the selection (or the whole cell) by an instruction, review it as a diff.
 *
 * A small instruction box opens above the cell; Enter sends the cell, the selection and the notebook to the
 * server, which streams the model's replacement (shown in the box as it comes) and then the whole new source.
 * The proposal is reviewed in the cell (review.ts); nothing is kept unless the user accepts it.
 */
import { Cell } from '@jupyterlab/cells';
import { CodeMirrorEditor } from '@jupyterlab/codemirror';
import { NotebookPanel } from '@jupyterlab/notebook';

import { documentPayload } from './cells';
import { LayersConnection } from './connection';
import { button, element } from './dom';
import { reviewInCell } from './review';

export const EDIT_COMMAND = 'jupyter-layers:edit-selection';

/** Ask for an instruction and run the edit on the active cell of `panel`. */
export function editSelection(panel: NotebookPanel, connection: LayersConnection): void {
  const cell = panel.content.activeCell;
  if (!cell || cell.model.type !== 'code' || cell.node.querySelector('.jp-layers-instruction')) {
    return;
  }
  const view = (cell.editor as CodeMirrorEditor).editor;
  const { from, to } = view.state.selection.main;
  const selection: [number, number] | null = from === to ? null : [from, to];
  const input = element('input', {
    className: 'jp-layers-instruction-input',
    placeholder: selection ? 'Change the selection how? (Enter to send, Esc to cancel)' : 'Change this cell how?'
  });
  const preview = element('pre', { className: 'jp-layers-edit-preview' });
  const status = element('div', { className: 'jp-layers-edit-status' });
  const box = element('div', { className: 'jp-layers-instruction' }, [input, status, preview]);
  const stream = `edit:${cell.model.id}`;
  let requestId = '';
  const close = () => {
    box.remove();
    cell.editor?.focus();
  };
  input.addEventListener('keydown', event => {
    event.stopPropagation(); // keep notebook shortcuts out of the box
    if (event.key === 'Escape') {
      if (requestId) {
        void connection.cancel(stream); // the request ends with `cancelled`, which frees its handler
      }
      close();
    } else if (event.key === 'Enter' && input.value.trim() && !requestId) {
      input.disabled = true;
      status.textContent = 'editing…';
      void send(input.value.trim());
    }
  });

  const send = async (instruction: string) => {
    const document = documentPayload(panel)!;
    document.cells[document.cell] = { ...document.cells[document.cell], source: cell.model.sharedModel.getSource() };
    requestId = await connection.request({ type: 'rewrite', stream, ...document, selection, instruction }, message => {
      if (message.type === 'text') {
        preview.textContent += message.text;
      } else if (message.type === 'error') {
        showError(box, status, message.message, close);
      } else if (message.type === 'rewrite') {
        if (message.source === cell.model.sharedModel.getSource()) {
          status.textContent = 'the model proposed no change';
          box.append(button('Close', close));
          return;
        }
        close();
        void reviewInCell(cell as Cell, message.source, {
          title: `✎ ${instruction} (${message.model})`,
          warning: [message.syntax_error ? `does not parse: ${message.syntax_error}` : '', ...message.taste]
            .filter(Boolean)
            .join(' · '),
          provenance: message.provenance
        });
      }
    });
  };

  cell.inputArea!.node.parentElement!.before(box); // above the input row (prompt, editor)
  input.focus();
}

function showError(box: HTMLElement, status: HTMLElement, message: string, close: () => void): void {
  status.className = 'jp-layers-error';
  status.textContent = message;
  box.append(button('Close', close));
}
