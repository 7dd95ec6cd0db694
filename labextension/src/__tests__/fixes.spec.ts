import { diffLines, fixCellId, fixProvenance } from '../fixes';
import { IFix } from '../protocol';

const FIX: IFix = {
  cell: 2,
  before: 'share = x / totl\n',
  after: 'share = x / total\n',
  diff: '--- cell 2\n+++ cell 2\n@@ -1 +1 @@\n-share = x / totl\n+share = x / total\n context\n',
  syntax_error: '',
  taste: []
};

describe('the fix helpers', () => {
  it('split a unified diff into kinds of lines, without its header', () => {
    expect(diffLines(FIX.diff)).toEqual([
      { kind: 'hunk', text: '@@ -1 +1 @@' },
      { kind: 'del', text: '-share = x / totl' },
      { kind: 'add', text: '+share = x / total' },
      { kind: 'context', text: ' context' }
    ]);
    expect(diffLines('')).toEqual([]);
  });

  it('find the cell a fix names by the id it had when the request was sent', () => {
    const sent = [
      { cell_type: 'markdown' as const, source: '# t', id: 'm0' },
      { cell_type: 'code' as const, source: 'x = 1', id: 'c1' },
      { cell_type: 'code' as const, source: FIX.before, id: 'c2' }
    ];
    expect(fixCellId(FIX, sent)).toBe('c2');
    expect(fixCellId({ ...FIX, cell: 7 }, sent)).toBeUndefined();
    expect(fixCellId(FIX, [sent[0], sent[1], { cell_type: 'code', source: '' }])).toBeUndefined();
  });

  it('record the escalation and the cell in the provenance', () => {
    const provenance = { layer: 'escalate' as const, question: 'why?', model: 'anthropic:claude-opus-5-5', time: 't' };
    expect(fixProvenance(provenance, FIX)).toEqual({ ...provenance, cell: 2 });
  });
});
