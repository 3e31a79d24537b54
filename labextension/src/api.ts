/**
 * The server extension's REST API (`{base_url}jobmagic/…`), through Jupyter Server's own
 * connection: it sends the token and the XSRF cookie, so the browser never holds more.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IRun, IRunFilter, IRunsPage, logsText, runsQuery } from './model';

/** A request the server refused or could not answer, with its message for the panel. */
export class RunsApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason: string | null = null
  ) {
    super(message);
    this.name = 'RunsApiError';
  }
}

/** The calls the panel, the status bar and the notices make. */
export class RunsApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  page(filter: IRunFilter, offset: number, limit: number): Promise<IRunsPage> {
    return this.call<IRunsPage>(`runs?${runsQuery(filter, offset, limit)}`);
  }

  run(id: number): Promise<IRun> {
    return this.call<IRun>(`runs/${id}`);
  }

  async logs(id: number, tail = 200): Promise<string> {
    return logsText(await this.call<unknown>(`runs/${id}/logs?tail=${tail}`));
  }

  terminate(id: number): Promise<unknown> {
    return this.call<unknown>(`runs/${id}/terminate`, 'POST');
  }

  /** Triggers the run again with its params; the server records it as a rerun of `id`. */
  rerun(id: number): Promise<Partial<IRun>> {
    return this.call<Partial<IRun>>(`runs/${id}/rerun`, 'POST');
  }

  private async call<T>(path: string, method: 'GET' | 'POST' = 'GET'): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'jobmagic', path);
    const init: RequestInit = method === 'POST' ? { method, body: '{}' } : { method };
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new RunsApiError(`The Jupyter server cannot be reached: ${String(error)}`, 0);
    }
    const text = await response.text();
    let body: any = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      throw new RunsApiError(
        failureMessage(response.status, body, text),
        response.status,
        body?.reason ?? null
      );
    }
    return body as T;
  }
}

function failureMessage(status: number, body: any, text: string): string {
  if (body && typeof body.message === 'string' && body.message) {
    return body.message;
  }
  if (status === 404 && !body) {
    return 'The jobmagic server extension is not enabled on this Jupyter server.';
  }
  if (status === 403) {
    return 'The Jupyter server refused the request (403): reload the page to sign in again.';
  }
  return `The Jupyter server answered ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
}
