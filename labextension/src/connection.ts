/**
 * One WebSocket per browser tab to the server extension (`/jupyter-layers/ws`), shared by every layer.
 *
 * Each request carries an `id` and a `stream` (one per editor, panel or cell); a new request on the same stream
 * supersedes the old one on the server, which closes its model stream. Replies are routed back by `id` to the
 * request's handler until a message with `done` or an `error` arrives.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IServerMessage {
  type: string;
  id: string;
  done?: boolean;
  message?: string;
  [key: string]: any;
}

export type MessageHandler = (message: IServerMessage) => void;

const RECONNECT_DELAY_MS = 1000;

export class LayersConnection {
  constructor(settings: ServerConnection.ISettings) {
    this._settings = settings;
  }

  /** Send a request; `onMessage` sees every reply to it, the last one has `done` or is an `error`. */
  async request(payload: Record<string, any>, onMessage: MessageHandler): Promise<string> {
    const id = payload.id ?? `r${++this._counter}-${Date.now().toString(36)}`;
    this._handlers.set(id, onMessage);
    const socket = await this._open();
    socket.send(JSON.stringify({ ...payload, id }));
    return id;
  }

  /** Stop whatever runs on `stream` (its model call is closed on the server). */
  async cancel(stream: string): Promise<void> {
    const socket = await this._open();
    socket.send(JSON.stringify({ type: 'cancel', stream }));
  }

  /** Forget a request's handler (its replies, if any still come, are dropped). */
  forget(id: string): void {
    this._handlers.delete(id);
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
    socket.onmessage = event => this._dispatch(JSON.parse(event.data));
    socket.onclose = () => {
      this._opening = null;
      this._socket = null;
      // Requests in flight will never finish: tell their handlers once, so no panel waits forever.
      for (const [id, handler] of this._handlers) {
        handler({ type: 'error', id, message: 'the connection to the Jupyter server was lost; try again' });
      }
      this._handlers.clear();
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

  private _dispatch(message: IServerMessage): void {
    const handler = this._handlers.get(message.id);
    if (!handler) {
      return;
    }
    if (message.done || message.type === 'error') {
      this._handlers.delete(message.id);
    }
    handler(message);
  }

  private _settings: ServerConnection.ISettings;
  private _socket: WebSocket | null = null;
  private _opening: Promise<WebSocket> | null = null;
  private _handlers = new Map<string, MessageHandler>();
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
