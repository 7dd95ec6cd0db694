/**
 * Layer 1 in JupyterLab: an inline completion provider that streams ghost text from the server.
 *
 * `fetch` answers at once with an empty, incomplete item, so the completer's fetch timeout never cuts a slow
 * model; the text then arrives through `stream` as cumulative insertText (what the reconciliator expects). A new
 * request from the same editor supersedes the previous one: the server closes its model stream, the old request
 * ends with `cancelled`, and the old generator ends. The document goes as `sync` (documentSync.ts): whole once,
 * then per keystroke only the cells that changed; a `resync` reply sends the request again with all of it.
 */
import {
  CompletionHandler,
  IInlineCompletionContext,
  IInlineCompletionItem,
  IInlineCompletionList,
  IInlineCompletionProvider
} from '@jupyterlab/completer';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { PromiseDelegate } from '@lumino/coreutils';

import { documentSources } from './cells';
import { LayersConnection } from './connection';
import { isLast, ServerMessage } from './protocol';

export const PROVIDER_ID = 'jupyter-layers';

interface IPending {
  messages: ServerMessage[];
  wake: PromiseDelegate<void>;
  finished: boolean;
}

export class LayersCompletionProvider implements IInlineCompletionProvider {
  readonly identifier = PROVIDER_ID;
  readonly name = 'jupyter_layers';

  constructor(connection: LayersConnection) {
    this._connection = connection;
  }

  /** Defaults merged into the Inline Completer settings (Settings → Inline Completer → jupyter_layers). */
  get schema(): ISettingRegistry.IProperty {
    return {
      default: { debouncerDelay: 250, timeout: 10000, model: '' },
      properties: {
        model: {
          title: 'Model',
          type: 'string',
          description:
            'Model for completions, e.g. claude-haiku-5-5 or openai:qwen2.5-coder (empty: the server configuration).'
        }
      }
    };
  }

  configure(settings: { [property: string]: any }): void {
    this._model = typeof settings.model === 'string' ? settings.model : '';
  }

  async fetch(
    request: CompletionHandler.IRequest,
    context: IInlineCompletionContext
  ): Promise<IInlineCompletionList<IInlineCompletionItem>> {
    const document = documentSources(context.widget);
    if (!document) {
      return { items: [] };
    }
    // The editor's text is the truth for the active cell: the model may lag a keystroke behind.
    const active = document.cells[document.cell];
    document.cells[document.cell] = { ...active, payload: () => ({ ...active.payload(), source: request.text }) };
    const token = `c${++this._counter}`;
    const pending: IPending = { messages: [], wake: new PromiseDelegate<void>(), finished: false };
    this._pending.set(token, pending);
    const superseded = this._pending.get(this._current.get(context.widget.id) ?? '');
    if (superseded) {
      superseded.finished = true; // its generator ends; the server closes its model stream
      superseded.wake.resolve();
    }
    this._current.set(context.widget.id, token);
    const documents = this._connection.documents;
    const send = () =>
      this._connection.request(
        {
          type: 'complete',
          stream: `complete:${context.widget.id}`,
          sync: documents.changes(document.key, document.cells, document.cell),
          cell: document.cell,
          kernel_id: document.kernel_id,
          path: document.path,
          offset: request.offset,
          model: this._model
        },
        message => {
          if (message.type === 'resync') {
            documents.forget(document.key); // the server lacks what these changes apply to
            if (this._current.get(context.widget.id) === token) {
              void send(); // again, with the whole document
              return;
            }
          }
          pending.messages.push(message);
          pending.finished = isLast(message);
          pending.wake.resolve();
          if (message.type === 'cancelled') {
            this._pending.delete(token); // superseded: its generator, if one runs, ends on `finished`
          }
        }
      );
    await send();
    return { items: [{ insertText: '', isIncomplete: true, token }] };
  }

  async *stream(token: string): AsyncGenerator<{ response: IInlineCompletionItem }, undefined, unknown> {
    const pending = this._pending.get(token);
    if (!pending) {
      return;
    }
    let text = '';
    try {
      while (true) {
        await pending.wake.promise;
        pending.wake = new PromiseDelegate<void>();
        for (const message of pending.messages.splice(0)) {
          if (message.type === 'error') {
            yield { response: { insertText: text, error: { message: message.message } } };
            return;
          }
          if (message.type === 'stream') {
            text = message.text;
            yield { response: { insertText: text, isIncomplete: !message.done } };
          }
        }
        if (pending.finished) {
          return;
        }
      }
    } finally {
      this._pending.delete(token);
    }
  }

  private _connection: LayersConnection;
  private _pending = new Map<string, IPending>();
  private _current = new Map<string, string>();
  private _counter = 0;
  private _model = '';
}
