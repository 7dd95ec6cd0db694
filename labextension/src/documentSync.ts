/**
 * What the server holds of each document this tab completes in, so that a keystroke sends only what changed.
 *
 * The server keeps a copy of each document per WebSocket (jupyter_layers/server/documents.py). The first
 * request on a document sends it whole; each later one the cells whose version changed since they were sent
 * (the active cell always: the editor's text is the truth for it) and the order of the cell ids when it changed.
 * A cell's payload is built only when it is sent, so a keystroke in a 500-cell notebook serializes one cell.
 * `forget` makes the next request whole again: after `resync` (the server does not hold the document, or its
 * copy differs: it drops a copy whose changes it had to refuse) and when the socket closes (the copies went with
 * it).
 */
import { ICell, IDocumentSync, ISyncedCell } from './protocol';

/** One cell of a document as the sync sees it: a payload is built only when the cell is sent. */
export interface ISyncSource {
  /** Unique in the document. */
  id: string;
  /** Changes whenever the cell does. */
  version: number;
  payload(): ICell;
}

/** Documents remembered at most (the server keeps as many per socket); the least recently used is dropped. */
export const MAX_DOCUMENTS = 16;

interface ISent {
  versions: Map<string, number>;
  order: string[];
}

export class DocumentSync {
  /**
   * The `sync` of a request on document `key` whose cells are `cells` (in order) and whose active cell is at
   * `active`; what it sends is taken as held by the server from then on.
   */
  changes(key: string, cells: ISyncSource[], active: number): IDocumentSync {
    const order = cells.map(cell => cell.id);
    const sent = this._sent.get(key);
    this._sent.delete(key); // re-inserted last: the most recently used
    this._sent.set(key, { versions: new Map(cells.map(cell => [cell.id, cell.version])), order });
    while (this._sent.size > MAX_DOCUMENTS) {
      this._sent.delete(this._sent.keys().next().value!);
    }
    if (!sent) {
      return { key, full: true, cells: cells.map(synced), order };
    }
    const changed = cells.filter((cell, index) => index === active || sent.versions.get(cell.id) !== cell.version);
    const moved = order.length !== sent.order.length || order.some((id, index) => id !== sent.order[index]);
    return moved ? { key, cells: changed.map(synced), order } : { key, cells: changed.map(synced) };
  }

  /** The next request on `key` (on every document, without a key) sends the document whole. */
  forget(key?: string): void {
    if (key === undefined) {
      this._sent.clear();
    } else {
      this._sent.delete(key);
    }
  }

  private _sent = new Map<string, ISent>();
}

function synced(cell: ISyncSource): ISyncedCell {
  return { ...cell.payload(), id: cell.id, version: cell.version };
}

/** Ids made unique in a document (a notebook file may repeat one): a repeat gets `#2`, `#3`… after it. */
export function uniqueIds(ids: string[]): string[] {
  const used = new Set<string>();
  return ids.map(id => {
    let unique = id;
    for (let count = 2; used.has(unique); count++) {
      unique = `${id}#${count}`;
    }
    used.add(unique);
    return unique;
  });
}
