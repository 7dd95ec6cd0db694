import { DocumentSync, ISyncSource, MAX_DOCUMENTS, uniqueIds } from '../documentSync';
import { ICell } from '../protocol';

/** Cells by id and version, counting how often each payload is built. */
function cells(versions: [string, number][], built: string[] = []): ISyncSource[] {
  return versions.map(([id, version]) => ({
    id,
    version,
    payload: (): ICell => {
      built.push(id);
      return { cell_type: 'code', source: `${id}@${version}` };
    }
  }));
}

describe('the document sync', () => {
  it('sends the document whole first, then only the changed cells and the active one', () => {
    const sync = new DocumentSync();
    const first = sync.changes(
      'nb',
      cells([
        ['a', 0],
        ['b', 0],
        ['c', 0]
      ]),
      2
    );
    expect(first).toEqual({
      key: 'nb',
      full: true,
      cells: [
        { id: 'a', version: 0, cell_type: 'code', source: 'a@0' },
        { id: 'b', version: 0, cell_type: 'code', source: 'b@0' },
        { id: 'c', version: 0, cell_type: 'code', source: 'c@0' }
      ],
      order: ['a', 'b', 'c']
    });
    const built: string[] = [];
    const next = sync.changes(
      'nb',
      cells(
        [
          ['a', 1],
          ['b', 0],
          ['c', 0]
        ],
        built
      ),
      2
    );
    expect(next).toEqual({
      key: 'nb',
      cells: [
        { id: 'a', version: 1, cell_type: 'code', source: 'a@1' },
        { id: 'c', version: 0, cell_type: 'code', source: 'c@0' }
      ]
    });
    expect(built).toEqual(['a', 'c']); // an unchanged cell is never serialized
  });

  it('sends the order when cells move, come or go', () => {
    const sync = new DocumentSync();
    sync.changes(
      'nb',
      cells([
        ['a', 0],
        ['b', 0],
        ['c', 0]
      ]),
      0
    );
    expect(
      sync.changes(
        'nb',
        cells([
          ['c', 0],
          ['a', 0],
          ['b', 0]
        ]),
        1
      )
    ).toEqual({
      key: 'nb',
      cells: [{ id: 'a', version: 0, cell_type: 'code', source: 'a@0' }],
      order: ['c', 'a', 'b']
    });
    const removed = sync.changes(
      'nb',
      cells([
        ['c', 0],
        ['a', 0]
      ]),
      1
    );
    expect(removed.order).toEqual(['c', 'a']);
    const added = sync.changes(
      'nb',
      cells([
        ['c', 0],
        ['a', 0],
        ['d', 0]
      ]),
      0
    );
    expect(added.cells!.map(cell => cell.id)).toEqual(['c', 'd']);
    expect(added.order).toEqual(['c', 'a', 'd']);
  });

  it('sends the document whole again once forgotten, per document or all', () => {
    const sync = new DocumentSync();
    sync.changes('one', cells([['a', 0]]), 0);
    sync.changes('two', cells([['a', 0]]), 0);
    sync.forget('one');
    expect(sync.changes('one', cells([['a', 0]]), 0).full).toBe(true);
    expect(sync.changes('two', cells([['a', 0]]), 0).full).toBeUndefined();
    sync.forget();
    expect(sync.changes('two', cells([['a', 0]]), 0).full).toBe(true);
  });

  it('remembers the documents used last, as many as the server keeps', () => {
    const sync = new DocumentSync();
    for (let n = 0; n <= MAX_DOCUMENTS; n++) {
      sync.changes(`nb${n}`, cells([['a', 0]]), 0);
    }
    expect(sync.changes(`nb${MAX_DOCUMENTS}`, cells([['a', 0]]), 0).full).toBeUndefined();
    expect(sync.changes('nb0', cells([['a', 0]]), 0).full).toBe(true); // the least recently used went
  });

  it('makes repeated cell ids unique', () => {
    expect(uniqueIds(['a', 'b', 'a', 'a#2', 'a'])).toEqual(['a', 'b', 'a#2', 'a#2#2', 'a#3']);
  });
});
