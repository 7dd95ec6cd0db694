/**
 * The handlers of the requests in flight on one WebSocket, each freed by its request's last message.
 *
 * Kept apart from the socket so the bookkeeping is unit-tested: a handler left behind (as every superseded
 * keystroke and every Stop once left one) would hold its panel's closures for the life of the tab.
 */
import { isLast, parseServerMessage, ServerMessage } from './protocol';

export type MessageHandler = (message: ServerMessage) => void;

export class ReplyRouter {
  /** Route the replies to request `id` to `handler` until its last one. */
  add(id: string, handler: MessageHandler): void {
    this._handlers.set(id, handler);
  }

  /** Forget a request that was never sent. */
  delete(id: string): void {
    this._handlers.delete(id);
  }

  /** One raw message from the socket to its request's handler; messages that are not ours are reported. */
  dispatch(data: string): void {
    const message = parseServerMessage(data);
    if (!message) {
      console.warn('jupyter_layers: a message from the server that is not in the protocol', data);
      return;
    }
    const handler = message.id === null ? undefined : this._handlers.get(message.id);
    if (!handler) {
      if (message.type === 'error') {
        console.warn(`jupyter_layers: ${message.message}`); // about a message without an id: nobody else sees it
      }
      return; // a reply to a request already ended
    }
    if (isLast(message)) {
      this._handlers.delete(message.id!);
    }
    handler(message);
  }

  /** End every request in flight with one error (the socket closed: no reply will come). */
  failAll(text: string): void {
    const handlers = [...this._handlers];
    this._handlers.clear();
    for (const [id, handler] of handlers) {
      handler({ type: 'error', id, message: text });
    }
  }

  /** How many requests still wait for their last message. */
  get size(): number {
    return this._handlers.size;
  }

  private _handlers = new Map<string, MessageHandler>();
}
