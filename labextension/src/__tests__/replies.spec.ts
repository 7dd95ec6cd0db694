import { ServerMessage } from '../protocol';
import { ReplyRouter } from '../replies';

function collect(router: ReplyRouter, id: string): ServerMessage[] {
  const seen: ServerMessage[] = [];
  router.add(id, message => seen.push(message));
  return seen;
}

describe('the reply router', () => {
  it('frees a superseded request when the server says it was cancelled', () => {
    const router = new ReplyRouter();
    const first = collect(router, 'r1');
    const second = collect(router, 'r2');
    router.dispatch(JSON.stringify({ type: 'stream', id: 'r1', text: 'sl', done: false }));
    router.dispatch(JSON.stringify({ type: 'cancelled', id: 'r1' }));
    router.dispatch(JSON.stringify({ type: 'stream', id: 'r1', text: 'slow', done: false })); // late: dropped
    router.dispatch(JSON.stringify({ type: 'stream', id: 'r2', text: 'fast', done: true }));
    expect(first.map(m => m.type)).toEqual(['stream', 'cancelled']);
    expect(second).toEqual([{ type: 'stream', id: 'r2', text: 'fast', done: true }]);
    expect(router.size).toBe(0);
  });

  it('keeps a handler until its last message, an error included', () => {
    const router = new ReplyRouter();
    const seen = collect(router, 'x1');
    router.dispatch(JSON.stringify({ type: 'text', id: 'x1', text: 'Compare' }));
    expect(router.size).toBe(1);
    router.dispatch(JSON.stringify({ type: 'error', id: 'x1', message: 'no kernel (hint: start it)' }));
    expect(seen.map(m => m.type)).toEqual(['text', 'error']);
    expect(router.size).toBe(0);
  });

  it('ends every request with one error when the socket closes', () => {
    const router = new ReplyRouter();
    const one = collect(router, 'a');
    const two = collect(router, 'b');
    router.failAll('the connection was lost');
    expect([...one, ...two]).toEqual([
      { type: 'error', id: 'a', message: 'the connection was lost' },
      { type: 'error', id: 'b', message: 'the connection was lost' }
    ]);
    expect(router.size).toBe(0);
  });

  it('reports what it cannot route', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const router = new ReplyRouter();
    router.dispatch(JSON.stringify({ type: 'error', id: null, message: 'malformed request (not JSON)' }));
    router.dispatch(JSON.stringify({ type: 'usage', id: 'q' }));
    expect(warn.mock.calls.map(call => String(call[0]))).toEqual([
      'jupyter_layers: malformed request (not JSON)',
      'jupyter_layers: a message from the server that is not in the protocol'
    ]);
    warn.mockRestore();
  });
});
