import { isLast, parseServerMessage, RequestPayload, SERVER_MESSAGE_TYPES, ServerMessage } from '../protocol';

describe('the protocol', () => {
  it('knows every server message type', () => {
    expect([...SERVER_MESSAGE_TYPES].sort()).toEqual(
      [
        'cancelled',
        'done',
        'error',
        'findings',
        'fixes',
        'notice',
        'prompt',
        'proposal',
        'resync',
        'rewrite',
        'rule',
        'sandbox',
        'step',
        'stream',
        'text',
        'thinking',
        'tool',
        'verify'
      ].sort()
    );
  });

  it('ends a request with done, error or cancelled, and nothing else', () => {
    const last: ServerMessage[] = [
      { type: 'stream', id: 'a', text: 'x', done: true },
      { type: 'done', id: 'a', done: true, cost: '', steps: 2 },
      { type: 'error', id: 'a', message: 'nothing to escalate' },
      { type: 'cancelled', id: 'a' },
      { type: 'resync', id: 'a', done: true, key: 'notebook-panel-1' },
      { type: 'rule', id: 'a', done: true, text: 'Check customer_id is unique before merging.', file: 'AGENTS.md' },
      {
        type: 'rewrite',
        id: 'a',
        source: 'x = 2',
        replacement: '2',
        syntax_error: '',
        taste: ['line 1: except Exception hides the error and carries on (remove the try/except)'],
        model: 'anthropic:claude-sonnet-5-5',
        provenance: { layer: 'edit', instruction: 'two', model: 'anthropic:claude-sonnet-5-5', time: 't' },
        done: true
      }
    ];
    const progress: ServerMessage[] = [
      { type: 'stream', id: 'a', text: 'x', done: false },
      { type: 'text', id: 'a', text: 'x' },
      { type: 'thinking', id: 'a', text: 'x' },
      { type: 'sandbox', id: 'a', protections: 'fork' },
      { type: 'step', phase: 'started', id: 'a', exploration: 'e', number: 1, code: 'x', note: '' },
      {
        type: 'fixes',
        id: 'a',
        fixes: [],
        answer: '',
        provenance: { layer: 'escalate', question: 'q', model: 'm', time: 't' }
      }
    ];
    expect(last.map(isLast)).toEqual(last.map(() => true));
    expect(progress.map(isLast)).toEqual(progress.map(() => false));
  });

  it('accepts only objects with a known type and an id', () => {
    expect(parseServerMessage('{"type": "cancelled", "id": "r1"}')).toEqual({ type: 'cancelled', id: 'r1' });
    expect(parseServerMessage('{"type": "error", "id": null, "message": "malformed request"}')?.type).toBe('error');
    expect(parseServerMessage('{"type": "usage", "id": "r1"}')).toBeNull();
    expect(parseServerMessage('{"type": "done"}')).toBeNull();
    expect(parseServerMessage('[1, 2]')).toBeNull();
    expect(parseServerMessage('null')).toBeNull();
    expect(() => parseServerMessage('{not json')).toThrow(SyntaxError);
  });

  it('types each request by its type', () => {
    const cells = [{ cell_type: 'code' as const, source: 'x = 1' }];
    const requests: RequestPayload[] = [
      { type: 'complete', stream: 'complete:e', cells, cell: 0, offset: 3 },
      { type: 'rewrite', stream: 'edit:c', cells, cell: 0, instruction: 'two', selection: [0, 1] },
      { type: 'explore', stream: 'explore:n', cells, cell: 0, question: 'why?' },
      { type: 'escalate', stream: 'escalate:n', cells, cell: 0 },
      {
        type: 'complete',
        stream: 'complete:e',
        sync: { key: 'nb', full: true, cells: [{ ...cells[0], id: 'c1', version: 0 }], order: ['c1'] },
        cell: 0
      },
      { type: 'remember', stream: 'remember:n', path: 'reports/q3.ipynb' },
      { type: 'remember_accept', stream: 'remember:n', path: 'reports/q3.ipynb', rule: 'Use polars.' }
    ];
    expect(requests.map(request => request.type)).toEqual([
      'complete',
      'rewrite',
      'explore',
      'escalate',
      'complete',
      'remember',
      'remember_accept'
    ]);
  });
});
