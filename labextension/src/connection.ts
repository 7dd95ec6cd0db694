/**
 * One WebSocket per browser tab to the server extension (`/jupyter-layers/ws`), shared by every layer.
 *
 * Each request carries an `id` and a `stream` (one per editor, panel or cell); a new request on the same stream
 * supersedes the old one on the server, which closes its model stream. Replies are routed back by `id` to the
 * request's handler until its last message (`isLast`: done, error or cancelled), which frees the handler: a
 * superseded or stopped request ends with `cancelled`, so no handler is left behind (protocol.ts). The server
 * keeps the documents of completions per socket: `documents` remembers what it was sent, and forgets it all when
 * the socket closes, so the next request on a new socket sends its document whole.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { DocumentSync } from './documentSync';
import { ICancelRequest, RequestPayload } from './protocol';
import { MessageHandler, ReplyRouter } from './replies';

export type { MessageHandler } from './replies';

const RECONNECT_DELAY_MS = 1000;

export class LayersConnection {
  constructor(settings: ServerConnection.ISettings) {
    this._settings = settings;
  }

  /** What the server holds of each document completions are about, on the current socket. */
  readonly documents = new DocumentSync();

  /** Send a request; `onMessage` sees every reply to it, the last one `isLast`. Resolves to the request's id. */
  async request(payload: RequestPayload, onMessage: MessageHandler): Promise<string> {
    const id = `r${++this._counter}-${Date.now().toString(36)}`;
    this._replies.add(id, onMessage);
    let socket: WebSocket;
    try {
      socket = await this._open();
    } catch (error) {
      this._replies.delete(id);
      onMessage({ type: 'error', id, message: (error as Error).message });
      return id;
    }
    socket.send(JSON.stringify({ ...payload, id }));
    return id;
  }

  /** Stop whatever runs on `stream`: its model call is closed on the server, and it ends with `cancelled`. */
  async cancel(stream: string): Promise<void> {
    const socket = await this._open();
    const cancel: ICancelRequest = { type: 'cancel', stream };
    socket.send(JSON.stringify(cancel));
  }

  dispose(): void {
    this._disposed = true;
    this._socket?.close();
  }

  private _open(): Promise<WebSocket> {
    if (this._opening) {
      return this._opening;
    }
    const url = URLExt.join(this._settings.wsUrl, 'jupyter-layers', 'ws');
    const token = this._settings.token;
    const socket = new this._settings.WebSocket(token ? `${url}?token=${encodeURIComponent(token)}` : url);
    this._opening = new Promise((resolve, reject) => {
      socket.onopen = () => resolve(socket);
      socket.onerror = () => reject(new Error('cannot reach the jupyter_layers server extension'));
    });
    socket.onmessage = event => this._replies.dispatch(event.data);
    socket.onclose = () => {
      this._opening = null;
      this._socket = null;
      this.documents.forget(); // the server's copies went with the socket
      // Requests in flight will never finish: tell their handlers once, so no panel waits forever.
      this._replies.failAll('the connection to the Jupyter server was lost; try again');
      if (!this._disposed) {
        setTimeout(() => void this._open().catch(() => undefined), RECONNECT_DELAY_MS);
      }
    };
    this._socket = socket;
    this._opening.catch(() => {
      this._opening = null;
    });
    return this._opening;
  }

  private _settings: ServerConnection.ISettings;
  private _socket: WebSocket | null = null;
  private _opening: Promise<WebSocket> | null = null;
  private _replies = new ReplyRouter();
  private _counter = 0;
  private _disposed = false;
}

/** A REST call to the server extension, with Jupyter's token and XSRF headers. */
export async function requestAPI<T>(
  settings: ServerConnection.ISettings,
  endpoint: string,
  init: RequestInit = {}
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'jupyter-layers', endpoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    throw new ServerConnection.ResponseError(response, data.message || response.statusText);
  }
  return data as T;
}
