/**
 * What the server needs to know about the document the user is in, and the notebook edits the layers make.
 *
 * Cells go to the server as trimmed nbformat dicts: text outputs only, each capped, because images or large HTML
 * would only cost latency. Each cell model has a version, bumped by its `changed` signal, so a completion sends
 * only the cells that changed since the server got them (documentSync.ts); the other layers send the document
 * whole.
 */
import { ConsolePanel } from '@jupyterlab/console';
import { IDocumentWidget } from '@jupyterlab/docregistry';
import { FileEditor } from '@jupyterlab/fileeditor';
import type * as nbformat from '@jupyterlab/nbformat';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { ISyncSource, uniqueIds } from './documentSync';
import { ICell } from './protocol';

export const SCRATCH_TAG = 'jupyter-layers-scratch';
const OUTPUT_CHARS = 2000;

/** The cells of a notebook, console or file editor, the active cell's index, and the kernel and path. */
export interface IDocumentPayload {
  cells: ICell[];
  cell: number;
  kernel_id?: string;
  path: string;
}

function clip(text: string): string {
  return text.length > OUTPUT_CHARS ? text.slice(0, OUTPUT_CHARS / 2) + '\n…\n' + text.slice(-OUTPUT_CHARS / 2) : text;
}

function joined(value: nbformat.MultilineString | undefined): string {
  return Array.isArray(value) ? value.join('') : (value ?? '');
}

/** Stream and error outputs as they are, rich outputs reduced to their text/plain form. */
export function textOutputs(outputs: nbformat.IOutput[]): nbformat.IOutput[] {
  const kept: nbformat.IOutput[] = [];
  for (const output of outputs) {
    if (output.output_type === 'stream') {
      kept.push({ ...output, text: clip(joined(output.text as nbformat.MultilineString)) });
    } else if (output.output_type === 'error') {
      kept.push({ ...output, traceback: (output.traceback as string[]).slice(-12) });
    } else if (output.output_type === 'execute_result' || output.output_type === 'display_data') {
      const data = output.data as nbformat.IMimeBundle;
      const plain = joined(data['text/plain'] as nbformat.MultilineString);
      kept.push({ ...output, data: { 'text/plain': clip(plain) }, metadata: {} });
    }
  }
  return kept;
}

function cellPayload(cell: nbformat.ICell): ICell {
  const payload: ICell = {
    id: cell.id as string | undefined,
    cell_type: cell.cell_type as ICell['cell_type'],
    source: joined(cell.source),
    metadata: { tags: (cell.metadata?.tags as string[] | undefined) ?? [] }
  };
  if (cell.cell_type === 'code') {
    payload.outputs = textOutputs((cell.outputs as nbformat.IOutput[]) ?? []);
    payload.execution_count = (cell.execution_count as number | null) ?? null;
  }
  return payload;
}

/** A shared model (a cell, a file) whose `changed` signal fires at each of its changes. */
interface IChanging {
  changed: { connect(slot: () => void): boolean };
}

const versions = new WeakMap<IChanging, number>();
let clock = 0; // one count for the tab: a cell whose model is replaced (a notebook reverted) never goes back

/** The model's version: the count when it was first seen or last changed. */
function version(model: IChanging): number {
  const seen = versions.get(model);
  if (seen !== undefined) {
    return seen;
  }
  versions.set(model, ++clock);
  model.changed.connect(() => versions.set(model, ++clock));
  return clock;
}

/** The document of a widget the layers can work in, cell by cell for the document sync. */
export interface IDocumentSources {
  /** The widget's id: the document's key on the server. */
  key: string;
  cells: ISyncSource[];
  cell: number;
  kernel_id?: string;
  path: string;
}

function sources(models: (IChanging & { id: string })[], payloads: (() => ICell)[]): ISyncSource[] {
  const ids = uniqueIds(models.map(model => model.id));
  return models.map((model, index) => ({ id: ids[index], version: version(model), payload: payloads[index] }));
}

/** The cells of a notebook, console or file editor, each with its id and version, or null for any other widget. */
export function documentSources(widget: Widget | null): IDocumentSources | null {
  if (widget instanceof NotebookPanel) {
    const notebook = widget.content;
    const cells = notebook.model!.sharedModel.cells;
    return {
      key: widget.id,
      cells: sources(
        cells,
        cells.map(cell => () => cellPayload(cell.toJSON() as nbformat.ICell))
      ),
      cell: Math.max(notebook.activeCellIndex, 0),
      kernel_id: widget.sessionContext.session?.kernel?.id,
      path: widget.context.path
    };
  }
  if (widget instanceof ConsolePanel) {
    const console = widget.console;
    const history = Array.from(console.cells);
    const models: (IChanging & { id: string })[] = history.map(cell => cell.model.sharedModel);
    const payloads = history.map(cell => () => cellPayload(cell.model.toJSON() as nbformat.ICell));
    const prompt = console.promptCell?.model.sharedModel;
    if (prompt) {
      models.push(prompt);
      payloads.push(() => ({ cell_type: 'code', source: prompt.getSource(), outputs: [] }));
    }
    const cells = sources(models, payloads);
    if (!prompt) {
      cells.push({ id: 'prompt', version: 0, payload: () => ({ cell_type: 'code', source: '', outputs: [] }) });
    }
    return {
      key: widget.id,
      cells,
      cell: cells.length - 1,
      kernel_id: widget.sessionContext.session?.kernel?.id,
      path: widget.sessionContext.path
    };
  }
  const document = widget as IDocumentWidget | null;
  if (document?.content instanceof FileEditor) {
    const file = document.content.model.sharedModel;
    const payload = (): ICell => ({ cell_type: 'code', source: file.getSource(), outputs: [] });
    return {
      key: document.id,
      cells: [{ id: 'file', version: version(file), payload }],
      cell: 0,
      path: document.context.path
    };
  }
  return null;
}

/** The whole document of a widget the layers can work in, or null for any other widget. */
export function documentPayload(widget: Widget | null): IDocumentPayload | null {
  const document = documentSources(widget);
  if (!document) {
    return null;
  }
  const { cells, cell, kernel_id, path } = document;
  return { cells: cells.map(source => source.payload()), cell, kernel_id, path };
}

/** Find a notebook cell's index by its model id (indices move as cells are inserted or deleted). */
export function cellIndex(panel: NotebookPanel, cellId: string): number {
  return panel.content.model!.sharedModel.cells.findIndex(cell => cell.id === cellId);
}

/** Insert a scratch cell, tagged so clean-up (and `jupyter layers clean`) can find exactly it. */
export function insertScratchCell(
  panel: NotebookPanel,
  index: number,
  source: string,
  exploration: string,
  step: number
): string {
  const cell = panel.content.model!.sharedModel.insertCell(index, {
    cell_type: 'code',
    source,
    metadata: { tags: [SCRATCH_TAG], jupyter_layers: { exploration, step } }
  });
  return cell.id;
}

export function setCellOutputs(panel: NotebookPanel, cellId: string, outputs: nbformat.IOutput[]): void {
  const index = cellIndex(panel, cellId);
  if (index >= 0) {
    const cell = panel.content.model!.sharedModel.cells[index];
    if (cell.cell_type === 'code') {
      (cell as any).setOutputs(outputs);
    }
  }
}

export function isScratch(cell: { getMetadata(key: string): any }): boolean {
  const tags = cell.getMetadata('tags');
  return Array.isArray(tags) && tags.includes(SCRATCH_TAG);
}

/** Delete every scratch cell of the notebook (of one exploration when given), and nothing else, in one undo step. */
export function removeScratchCells(panel: NotebookPanel, exploration?: string): number {
  const model = panel.content.model!.sharedModel;
  const doomed = model.cells
    .map((cell, index) => ({ cell, index }))
    .filter(
      ({ cell }) =>
        isScratch(cell) &&
        (exploration === undefined || (cell.getMetadata('jupyter_layers') as any)?.exploration === exploration)
    )
    .map(({ index }) => index)
    .reverse();
  model.transact(() => doomed.forEach(index => model.deleteCell(index)));
  return doomed.length;
}

/** Replace a cell's source and record who changed it and why; the old outputs belonged to the old code. */
export function applySource(
  panel: NotebookPanel,
  cellId: string,
  source: string,
  provenance: Record<string, any>
): boolean {
  const index = cellIndex(panel, cellId);
  if (index < 0) {
    return false;
  }
  const cell = panel.content.model!.sharedModel.cells[index];
  cell.transact(() => {
    cell.setSource(source);
    const layers = (cell.getMetadata('jupyter_layers') as Record<string, any>) ?? {};
    cell.setMetadata('jupyter_layers', { ...layers, provenance });
    if (cell.cell_type === 'code') {
      (cell as any).setOutputs([]);
      (cell as any).execution_count = null;
    }
  });
  return true;
}
