import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import {
  NODE_CLASSES,
  NodeException,
  objectInfo,
  type InputSpec,
  type NodeClass,
  type RunContext,
} from './nodes.js';

/**
 * A fake ComfyUI that follows ComfyUI's own server.py and execution.py (the real protocol, message by
 * message), not our connector's assumptions. Model-free node classes (nodes.ts) stand in
 * for real ones. It keeps a FIFO queue drained by one worker, routes WebSocket messages
 * per client like ComfyUI's `send_sync`, writes history before the final
 * `executing {node: null}`, caches the previous prompt's node outputs, and serves
 * /view with its 400/403/404 rules. Fault switches simulate what goes wrong in production.
 */

/** Options of {@link FakeComfyUI}. */
export interface FakeComfyOptions {
  /** Put a Basic (username/password) and/or Bearer (token) check in front, like an nginx/Caddy proxy. */
  auth?: { username?: string; password?: string; token?: string };
  /**
   * Behave like an older ComfyUI (mid-2024 and before): client
   * `prompt_id` ignored, no `execution_success`, `progress` without `prompt_id`/`node`,
   * no `executed` for cached outputs, `node_errors: []` and string errors.
   */
  legacy?: boolean;
  /** Extra delay before each node runs (ms), to make prompts observable. */
  nodeDelayMs?: number;
  /** Most files kept (oldest dropped first), so long benchmarks do not fill the fake's memory. */
  maxFiles?: number;
}

/** Fault switches; change them at any time. */
export interface FakeFaults {
  /** Drop every client socket (no close frame) when this progress message (1-based, per prompt) is due. */
  dropSocketsAtProgress?: number;
  /** Stop sending any WebSocket message from this progress message (1-based, per prompt) on; 0 = from the next prompt's start. */
  silenceAtProgress?: number;
  /** While true, no WebSocket message is sent (the prompt still runs and reaches history). */
  silent?: boolean;
  /** Delay of every /history answer in ms. */
  historyDelayMs?: number;
  /** Answer WebSocket upgrades with HTTP 503. */
  refuseWebSocket?: boolean;
}

type QueueItem = [number, string, Record<string, PromptNode>, Record<string, unknown>, string[]];

interface PromptNode {
  class_type: string;
  inputs: Record<string, unknown>;
}

interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, Record<string, unknown[]>>;
  status: {
    status_str: 'success' | 'error';
    completed: boolean;
    messages: [string, Record<string, unknown>][];
  };
  meta: Record<string, unknown>;
}

class Interrupted extends Error {}

/** A request the fake received, for assertions. */
export interface SeenRequest {
  method: string;
  path: string;
  body?: unknown;
}

const TYPES = ['output', 'input', 'temp'] as const;

export class FakeComfyUI {
  readonly faults: FakeFaults = {};
  /** Every HTTP request (path without /api), in order. */
  readonly requests: SeenRequest[] = [];
  /** Bodies of POST /interrupt. */
  readonly interrupts: unknown[] = [];
  /** Prompt ids accepted by POST /prompt, in order (the "was it submitted once?" counter). */
  readonly acceptedPrompts: string[] = [];
  /** When each prompt started and ended on the fake's worker (ms since epoch): its own execution time. */
  readonly timings = new Map<string, { started: number; ended: number }>();
  /** Every POST /upload/image that stored a file: its answer and the bytes' sha256. */
  readonly uploads: { name: string; subfolder: string; type: string; sha256: string; size: number }[] = [];
  /** Every file LoadImage read: input name and sha256. */
  readonly inputsRead: { name: string; sha256: string }[] = [];
  /** Every WebSocket upgrade that was accepted (client id, auth header seen). */
  readonly connections: { clientId: string; authorization: string | undefined }[] = [];

  private readonly server: http.Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Map<string, WebSocket>();
  private readonly queue: QueueItem[] = [];
  private readonly history = new Map<string, HistoryEntry>();
  private readonly files = new Map<string, Buffer>();
  private readonly counters = new Map<string, number>();
  private cache = new Map<string, unknown[]>();
  private cachedUi = new Map<string, Record<string, unknown[]>>();
  private running: { item: QueueItem; node: string | undefined } | undefined;
  private interruptFlag = false;
  private number = 0;
  private progressCount = 0;
  private pumping = false;
  private generation = 0;
  private url = '';

  constructor(private readonly options: FakeComfyOptions = {}) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch(error => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`500 Internal Server Error\n\nServer got itself in trouble: ${String(error)}`);
      });
    });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /** Starts listening on a free port (or `port`); resolves with the base URL. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>(resolve => this.server.listen(port, host, () => resolve()));
    const address = this.server.address() as AddressInfo;
    this.url = `http://${host}:${address.port}`;
    return this.url;
  }

  get baseUrl(): string {
    return this.url;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Number of open client sockets. */
  get socketCount(): number {
    return this.wss.clients.size;
  }

  /** Like a ComfyUI restart: queue, history and cache are gone, sockets dropped. */
  restart(): void {
    this.queue.length = 0;
    this.history.clear();
    this.cache.clear();
    this.cachedUi.clear();
    this.generation++;
    if (this.running) this.interruptFlag = true;
    for (const ws of this.wss.clients) ws.terminate();
  }

  /**
   * ComfyUI's registry race (server.py's `sockets` map): the client ids are forgotten while the
   * sockets stay open, so prompt messages are silently dropped; status still reaches them.
   */
  forgetClientIds(): void {
    this.sockets.clear();
  }

  /** Drops every client socket at once (no close frame). */
  dropSockets(): void {
    for (const ws of this.wss.clients) ws.terminate();
  }

  async close(): Promise<void> {
    this.interruptFlag = true;
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>(resolve => this.server.close(() => resolve()));
  }

  /** True while `promptId` waits or runs. */
  isQueuedOrRunning(promptId: string): boolean {
    return this.running?.item[1] === promptId || this.queue.some(item => item[1] === promptId);
  }

  // ---------------------------------------------------------------- WebSocket

  private authorized(header: string | undefined): boolean {
    const auth = this.options.auth;
    if (!auth) return true;
    if (auth.token && header === `Bearer ${auth.token}`) return true;
    if (auth.username !== undefined || auth.password !== undefined) {
      const expected = `Basic ${Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64')}`;
      if (header === expected) return true;
    }
    return false;
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
    const refuse = (status: number, text: string, extra = ''): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\n${extra}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (!this.authorized(req.headers.authorization)) {
      return refuse(401, 'Unauthorized', 'WWW-Authenticate: Basic realm="ComfyUI"\r\n');
    }
    if (route !== '/ws') return refuse(404, 'Not Found');
    if (this.faults.refuseWebSocket) return refuse(503, 'Service Unavailable');
    this.wss.handleUpgrade(req, socket, head, ws => {
      const clientId = url.searchParams.get('clientId') || randomUUID().replace(/-/g, '');
      // ComfyUI's registry: a reconnect with the same id replaces the entry; the old
      // socket's cleanup later deletes the id whatever it points at (server.py's `websocket_handler`).
      this.sockets.set(clientId, ws);
      this.connections.push({ clientId, authorization: req.headers.authorization });
      ws.on('close', () => this.sockets.delete(clientId));
      ws.on('error', () => undefined);
      ws.on('message', () => undefined); // Only a first feature_flags message is read by ComfyUI; ignored here.
      this.sendTo(ws, 'status', {
        status: { exec_info: { queue_remaining: this.queueRemaining() } },
        sid: clientId,
      });
      const running = this.running;
      if (running && running.item[3].client_id === clientId && running.node !== undefined) {
        this.sendTo(ws, 'executing', { node: running.node });
      }
    });
  }

  private sendTo(ws: WebSocket, type: string, data: unknown): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type, data }));
  }

  /** ComfyUI's `send_sync`: to one client id (dropped when not connected) or, with none, to everyone. */
  private send(type: string, data: unknown, sid: string | undefined): void {
    if (this.faults.silent) return;
    if (sid === undefined) {
      for (const ws of this.wss.clients) this.sendTo(ws, type, data);
      return;
    }
    const ws = this.sockets.get(sid);
    if (ws) this.sendTo(ws, type, data);
  }

  private sendBinary(event: number, payload: Buffer, sid: string | undefined): void {
    if (this.faults.silent) return;
    const header = Buffer.alloc(4);
    header.writeUInt32BE(event);
    const frame = Buffer.concat([header, payload]);
    const targets =
      sid === undefined ? [...this.wss.clients] : [this.sockets.get(sid)].filter(ws => ws !== undefined);
    for (const ws of targets) if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: true });
  }

  private queueRemaining(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  private broadcastStatus(): void {
    this.send('status', { status: { exec_info: { queue_remaining: this.queueRemaining() } } }, undefined);
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
    const method = req.method ?? 'GET';
    if (!this.authorized(req.headers.authorization)) {
      res.writeHead(401, { 'content-type': 'text/html', 'www-authenticate': 'Basic realm="ComfyUI"' });
      res.end('<html><body><h1>401 Authorization Required</h1></body></html>');
      return;
    }
    if (route === '/upload/image' && method === 'POST') {
      this.requests.push({ method, path: route });
      return this.uploadImage(req, res);
    }
    const raw = method === 'POST' ? await readBody(req) : '';
    const seen: SeenRequest = { method, path: route };
    this.requests.push(seen);
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    const empty = (): void => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end();
    };
    const parseBody = (): unknown => {
      seen.body = JSON.parse(raw);
      return seen.body;
    };

    if (method === 'GET' && route === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>fake ComfyUI (emp-worker tests)</body></html>');
      return;
    }
    if (route === '/prompt') {
      if (method === 'GET') return json(200, { exec_info: { queue_remaining: this.queueRemaining() } });
      if (method === 'POST') {
        let body: unknown;
        try {
          body = parseBody();
        } catch {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('500 Internal Server Error\n\nServer got itself in trouble');
          return;
        }
        const [status, answer] = this.postPrompt(isObject(body) ? body : {});
        return json(status, answer);
      }
    }
    if (route === '/queue') {
      if (method === 'GET') {
        return json(200, {
          queue_running: this.running ? [this.running.item] : [],
          queue_pending: [...this.queue],
        });
      }
      if (method === 'POST') {
        const body = safeJson(raw, seen);
        if (isObject(body)) {
          if (body.clear === true) this.queue.length = 0;
          if (Array.isArray(body.delete)) {
            for (const id of body.delete) {
              const index = this.queue.findIndex(item => item[1] === id);
              if (index >= 0) this.queue.splice(index, 1);
            }
          }
          this.broadcastStatus();
        }
        return empty();
      }
    }
    if (route === '/interrupt' && method === 'POST') {
      const body = safeJson(raw, seen);
      this.interrupts.push(body ?? {});
      const target = isObject(body) && typeof body.prompt_id === 'string' ? body.prompt_id : undefined;
      if (target === undefined || (this.running !== undefined && this.running.item[1] === target)) {
        if (this.running) this.interruptFlag = true;
      }
      return empty();
    }
    if (route === '/free' && method === 'POST') return empty();
    if (route === '/history' || route.startsWith('/history/')) {
      if (this.faults.historyDelayMs) {
        await new Promise(resolve => setTimeout(resolve, this.faults.historyDelayMs));
      }
      if (method === 'POST') {
        const body = safeJson(raw, seen);
        if (isObject(body)) {
          if (body.clear === true) this.history.clear();
          if (Array.isArray(body.delete)) for (const id of body.delete) this.history.delete(String(id));
        }
        return empty();
      }
      if (route === '/history') {
        const entries = [...this.history.entries()];
        const offset = Number(url.searchParams.get('offset') ?? 0) || 0;
        const max = url.searchParams.get('max_items');
        const slice = entries.slice(offset, max === null ? undefined : offset + Number(max));
        return json(200, Object.fromEntries(slice));
      }
      const id = decodeURIComponent(route.slice('/history/'.length));
      const entry = this.history.get(id);
      return json(200, entry ? { [id]: entry } : {});
    }
    if (route === '/view' && method === 'GET') return this.view(url, res);
    if (route === '/system_stats' && method === 'GET') {
      return json(200, {
        system: {
          os: 'posix',
          ram_total: 8 * 2 ** 30,
          ram_free: 6 * 2 ** 30,
          comfyui_version: this.options.legacy ? undefined : '0.3.64',
          python_version: '3.12.3 (main) [GCC 13.2.0]',
          pytorch_version: '2.8.0+cpu',
          embedded_python: false,
          argv: ['main.py', '--cpu'],
        },
        devices: [
          {
            name: 'cpu',
            type: 'cpu',
            index: null,
            vram_total: 8 * 2 ** 30,
            vram_free: 6 * 2 ** 30,
            torch_vram_total: 8 * 2 ** 30,
            torch_vram_free: 6 * 2 ** 30,
          },
        ],
      });
    }
    if (route === '/object_info' && method === 'GET') {
      return json(
        200,
        Object.fromEntries(Object.values(NODE_CLASSES).map(node => [node.name, objectInfo(node)])),
      );
    }
    if (route.startsWith('/object_info/') && method === 'GET') {
      const node = NODE_CLASSES[decodeURIComponent(route.slice('/object_info/'.length))];
      return json(200, node ? { [node.name]: objectInfo(node) } : {});
    }
    if (route === '/features' && method === 'GET') {
      return json(200, { supports_preview_metadata: true, max_upload_size: 100 * 2 ** 20 });
    }
    if ((route === '/embeddings' || route === '/extensions') && method === 'GET') return json(200, []);
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404: Not Found');
  }

  /**
   * POST /upload/image (server.py's `upload_image`): multipart `image` (required), `type` (input by
   * default; other than input/temp/output is a 500), `subfolder`, `overwrite`. A clash
   * with identical bytes reuses the name, with other bytes renames to `name (1).ext`
   * unless `overwrite` is "true"/"1". Answers `{name, subfolder, type}`.
   */
  private async uploadImage(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const reply = (status: number, body: string, type = 'text/plain'): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(req.headers['content-type'] ?? '');
    const raw = await readRaw(req);
    const parts = boundary ? parseMultipart(raw, boundary[1] ?? boundary[2] ?? '') : [];
    const field = (name: string): string | undefined =>
      parts.find(part => part.name === name && part.filename === undefined)?.data.toString('utf8');
    const image = parts.find(part => part.name === 'image');
    if (!image || !image.filename) return reply(400, '400: Bad Request');
    const type = field('type') ?? 'input';
    if (!(TYPES as readonly string[]).includes(type)) {
      return reply(500, '500 Internal Server Error\n\nServer got itself in trouble');
    }
    const subfolder = field('subfolder') ?? '';
    const overwrite = ['true', '1'].includes(field('overwrite') ?? '');
    const root = `/comfy/${type}`;
    const folder = path.posix.resolve(root, subfolder);
    let name = path.posix.basename(image.filename);
    if ((folder !== root && !folder.startsWith(`${root}/`)) || name === '' || name === '..') {
      return reply(400, '400: Bad Request');
    }
    if (!overwrite) {
      const ext = path.posix.extname(name);
      const stem = name.slice(0, name.length - ext.length);
      for (let i = 1; ; i++) {
        const existing = this.files.get(path.posix.join(folder, name));
        if (!existing || existing.equals(image.data)) break;
        name = `${stem} (${i})${ext}`;
      }
    }
    this.storeFile(path.posix.join(folder, name), image.data);
    this.uploads.push({
      name,
      subfolder,
      type,
      sha256: createHash('sha256').update(image.data).digest('hex'),
      size: image.data.length,
    });
    return reply(200, JSON.stringify({ name, subfolder, type }), 'application/json; charset=utf-8');
  }

  private storeFile(key: string, bytes: Buffer): void {
    this.files.delete(key);
    this.files.set(key, bytes);
    const max = this.options.maxFiles;
    if (max === undefined) return;
    for (const oldest of this.files.keys()) {
      if (this.files.size <= max) break;
      this.files.delete(oldest);
    }
  }

  /** GET /view: the 404/400/403/404 rules of server.py's `view_image`. */
  private view(url: URL, res: http.ServerResponse): void {
    const fail = (status: number): void => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 404 ? '404: Not Found' : status === 403 ? '403: Forbidden' : '400: Bad Request');
    };
    let filename = url.searchParams.get('filename');
    if (filename === null) return fail(404);
    let type = url.searchParams.get('type') ?? 'output';
    const suffix = /\s\[(output|input|temp)\]$/.exec(filename);
    if (suffix?.[1]) {
      type = suffix[1];
      filename = filename.slice(0, suffix.index);
    }
    if (filename === '' || filename.startsWith('/') || filename.includes('..')) return fail(400);
    if (!(TYPES as readonly string[]).includes(type)) return fail(400);
    const root = `/comfy/${type}`;
    const folder = path.posix.resolve(root, url.searchParams.get('subfolder') ?? '');
    if (folder !== root && !folder.startsWith(`${root}/`)) return fail(403);
    const name = path.posix.basename(filename);
    const bytes = this.files.get(path.posix.join(folder, name));
    if (!bytes) return fail(404);
    const ext = path.posix.extname(name).toLowerCase();
    const mime = {
      '.png': 'image/png',
      '.gif': 'image/gif',
      '.jpg': 'image/jpeg',
      '.webp': 'image/webp',
      '.flac': 'audio/flac',
    }[ext];
    res.writeHead(200, {
      'content-type': mime ?? 'application/octet-stream',
      'content-disposition': `filename="${name}"`,
      'content-length': bytes.length,
    });
    res.end(bytes);
  }

  // ---------------------------------------------------------------- POST /prompt and validation

  private postPrompt(body: Record<string, unknown>): [number, unknown] {
    const legacy = this.options.legacy === true;
    const emptyNodeErrors = legacy ? [] : {};
    if (!('prompt' in body)) {
      return [
        400,
        legacy
          ? { error: 'no prompt', node_errors: [] }
          : {
              error: {
                type: 'no_prompt',
                message: 'No prompt provided',
                details: 'No prompt provided',
                extra_info: {},
              },
              node_errors: {},
            },
      ];
    }
    const prompt = isObject(body.prompt) ? (body.prompt as Record<string, PromptNode>) : {};
    for (const [id, node] of Object.entries(prompt)) {
      if (!isObject(node) || typeof node.class_type !== 'string') {
        return [
          400,
          {
            error: errorBody(
              'invalid_prompt',
              'Cannot execute because a node is missing the class_type property.',
              `Node ID '#${id}'`,
            ),
            node_errors: emptyNodeErrors,
          },
        ];
      }
      if (!NODE_CLASSES[node.class_type]) {
        return [
          400,
          {
            error: errorBody(
              'invalid_prompt',
              `Cannot execute because node ${node.class_type} does not exist.`,
              `Node ID '#${id}'`,
            ),
            node_errors: emptyNodeErrors,
          },
        ];
      }
    }
    const outputs = Object.keys(prompt).filter(id => NODE_CLASSES[prompt[id]?.class_type ?? '']?.outputNode);
    if (outputs.length === 0) {
      return [
        400,
        { error: errorBody('prompt_no_outputs', 'Prompt has no outputs', ''), node_errors: emptyNodeErrors },
      ];
    }
    const own = new Map<string, Record<string, unknown>[]>();
    const valid = new Map<string, boolean>();
    const check = (id: string): boolean => {
      const known = valid.get(id);
      if (known !== undefined) return known;
      valid.set(id, true); // cycles are not checked by the fake
      const node = prompt[id];
      const cls = node ? NODE_CLASSES[node.class_type] : undefined;
      if (!node || !cls) return false;
      const errors = validateInputs(node, cls, prompt, (type, name) =>
        this.files.has(path.posix.resolve(`/comfy/${type}`, name)),
      );
      let ok = errors.length === 0;
      if (errors.length > 0) own.set(id, errors);
      for (const input of Object.values(node.inputs ?? {})) {
        if (Array.isArray(input) && input.length === 2 && typeof input[0] === 'string' && prompt[input[0]]) {
          if (!check(input[0])) ok = false;
        }
      }
      valid.set(id, ok);
      return ok;
    };
    const good: string[] = [];
    const nodeErrors: Record<
      string,
      { errors: Record<string, unknown>[]; dependent_outputs: string[]; class_type: string }
    > = {};
    for (const output of outputs) {
      if (check(output)) {
        good.push(output);
        continue;
      }
      for (const id of upstream(prompt, output)) {
        const errors = own.get(id);
        if (!errors) continue;
        const entry = (nodeErrors[id] ??= {
          errors,
          dependent_outputs: [],
          class_type: prompt[id]?.class_type ?? '',
        });
        entry.dependent_outputs.push(output);
      }
    }
    if (good.length === 0) {
      const details = Object.entries(nodeErrors)
        .flatMap(([id, entry]) =>
          entry.errors.map(
            error => `${entry.class_type} ${id}: ${String(error.message)}: ${String(error.details)}`,
          ),
        )
        .join('\n');
      return [
        400,
        {
          error: errorBody('prompt_outputs_failed_validation', 'Prompt outputs failed validation', details),
          node_errors: nodeErrors,
        },
      ];
    }
    const requested = typeof body.prompt_id === 'string' && !legacy ? body.prompt_id : undefined;
    const promptId = requested ?? randomUUID();
    const number =
      typeof body.number === 'number' ? body.number : body.front === true ? -++this.number : ++this.number;
    const extraData: Record<string, unknown> = isObject(body.extra_data) ? { ...body.extra_data } : {};
    if (typeof body.client_id === 'string') extraData.client_id = body.client_id;
    const item: QueueItem = [number, promptId, prompt, extraData, good];
    this.queue.push(item);
    this.acceptedPrompts.push(promptId);
    this.broadcastStatus();
    queueMicrotask(() => void this.pump());
    return [200, { prompt_id: promptId, number, node_errors: nodeErrors }];
  }

  // ---------------------------------------------------------------- execution

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        this.queue.sort((a, b) => a[0] - b[0]);
        const item = this.queue.shift();
        if (!item) return;
        await this.execute(item);
      }
    } finally {
      this.pumping = false;
    }
  }

  private async execute(item: QueueItem): Promise<void> {
    const [, promptId, prompt, extraData, outputs] = item;
    const legacy = this.options.legacy === true;
    const sid = typeof extraData.client_id === 'string' ? extraData.client_id : undefined;
    const messages: [string, Record<string, unknown>][] = [];
    // Prompt-scoped messages go only to the prompt's client; without one they are not sent (server.py's `send_sync`).
    const emit = (type: string, data: Record<string, unknown>, record: boolean): void => {
      const full = legacy ? data : { ...data, timestamp: Date.now() };
      if (record) messages.push([type, full]);
      if (sid !== undefined) this.send(type, full, sid);
    };
    this.running = { item, node: undefined };
    const started = Date.now();
    const generation = this.generation;
    this.interruptFlag = false;
    this.progressCount = 0;
    if (this.faults.silenceAtProgress === 0) this.faults.silent = true;
    this.broadcastStatus();
    emit('execution_start', { prompt_id: promptId }, true);

    const order: string[] = [];
    const visit = (id: string, seen: Set<string>): void => {
      if (seen.has(id)) return;
      seen.add(id);
      for (const input of Object.values(prompt[id]?.inputs ?? {})) {
        if (Array.isArray(input) && typeof input[0] === 'string') visit(input[0], seen);
      }
      order.push(id);
    };
    const seen = new Set<string>();
    for (const output of outputs) visit(output, seen);

    const signatures = new Map<string, string>();
    const signature = (id: string): string => {
      const known = signatures.get(id);
      if (known) return known;
      const node = prompt[id];
      const cls = NODE_CLASSES[node?.class_type ?? ''];
      const inputs = Object.entries(node?.inputs ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, value]) => [
          name,
          Array.isArray(value) ? [signature(String(value[0])), value[1]] : value,
        ]);
      const sig = JSON.stringify([node?.class_type, inputs, cls?.neverCached ? randomUUID() : null]);
      signatures.set(id, sig);
      return sig;
    };
    const results = new Map<string, unknown[]>();
    const nextCache = new Map<string, unknown[]>();
    const nextUi = new Map<string, Record<string, unknown[]>>();
    const cached: string[] = [];
    for (const id of order) {
      const hit = this.cache.get(signature(id));
      if (hit) {
        cached.push(id);
        results.set(id, hit);
        nextCache.set(signature(id), hit);
        const ui = this.cachedUi.get(signature(id));
        if (ui) nextUi.set(signature(id), ui);
      }
    }
    emit('execution_cached', { nodes: cached, prompt_id: promptId }, true);
    const historyOutputs: Record<string, Record<string, unknown[]>> = {};
    for (const id of cached) {
      const ui = this.cachedUi.get(signature(id));
      if (!ui) continue;
      historyOutputs[id] = ui;
      if (!legacy) emit('executed', { node: id, display_node: id, output: ui, prompt_id: promptId }, false);
    }

    const executed: string[] = [];
    let outcome: 'success' | 'error' | 'interrupted' = 'success';
    for (const id of order) {
      if (results.has(id)) continue;
      const node = prompt[id];
      const cls = NODE_CLASSES[node?.class_type ?? ''];
      if (!node || !cls) continue;
      try {
        if (this.options.nodeDelayMs) await this.sleepInterruptible(this.options.nodeDelayMs);
        if (this.interruptFlag) throw new Interrupted();
        this.running.node = id;
        emit(
          'executing',
          legacy ? { node: id, prompt_id: promptId } : { node: id, display_node: id, prompt_id: promptId },
          false,
        );
        const inputs = resolveInputs(node, cls, results);
        const ctx = this.runContext(promptId, sid, id);
        const { result, ui } = await cls.run(inputs, ctx);
        results.set(id, result);
        nextCache.set(signature(id), result);
        executed.push(id);
        if (ui) {
          historyOutputs[id] = ui;
          nextUi.set(signature(id), ui);
          emit('executed', { node: id, display_node: id, output: ui, prompt_id: promptId }, false);
        }
      } catch (error) {
        if (error instanceof Interrupted) {
          outcome = 'interrupted';
          const data = { prompt_id: promptId, node_id: id, node_type: node.class_type, executed };
          const full = legacy ? data : { ...data, timestamp: Date.now() };
          messages.push(['execution_interrupted', full]);
          // Added with broadcast=True: to the client, or to everyone without one.
          this.send('execution_interrupted', full, sid);
        } else {
          outcome = 'error';
          const exception =
            error instanceof NodeException ? error : new NodeException('Exception', String(error));
          emit(
            'execution_error',
            {
              prompt_id: promptId,
              node_id: id,
              node_type: node.class_type,
              executed,
              exception_message: exception.message,
              exception_type: exception.exceptionType,
              traceback: [`  File "fake_nodes.py", line 1, in ${node.class_type}\n`],
              current_inputs: {},
              current_outputs: executed,
            },
            true,
          );
        }
        break;
      }
    }
    if (generation !== this.generation) {
      // "Restarted" while it ran: the prompt is simply gone, as after a real restart.
      this.running = undefined;
      return;
    }
    this.cache = nextCache;
    this.cachedUi = nextUi;
    if (outcome === 'success' && !legacy) emit('execution_success', { prompt_id: promptId }, true);
    // task_done: history first, then status, then the final executing null (C main.py:194-204).
    this.history.set(promptId, {
      prompt: item,
      outputs: historyOutputs,
      status: {
        status_str: outcome === 'success' ? 'success' : 'error',
        completed: outcome === 'success',
        messages,
      },
      meta: Object.fromEntries(
        Object.keys(historyOutputs).map(id => [
          id,
          { node_id: id, display_node: id, parent_node: null, real_node_id: id },
        ]),
      ),
    });
    this.running = undefined;
    this.broadcastStatus();
    this.timings.set(promptId, { started, ended: Date.now() });
    if (sid !== undefined) this.send('executing', { node: null, prompt_id: promptId }, sid);
    this.faults.silent = this.faults.silenceAtProgress !== undefined ? false : this.faults.silent;
  }

  private runContext(promptId: string, sid: string | undefined, nodeId: string): RunContext {
    const legacy = this.options.legacy === true;
    return {
      progress: (value, max) => {
        if (this.interruptFlag) throw new Interrupted();
        this.progressCount++;
        if (this.faults.dropSocketsAtProgress === this.progressCount) this.dropSockets();
        if (
          this.faults.silenceAtProgress !== undefined &&
          this.faults.silenceAtProgress > 0 &&
          this.progressCount >= this.faults.silenceAtProgress
        ) {
          this.faults.silent = true;
        }
        // To the prompt's client, or to everyone when it has none.
        this.send(
          'progress',
          legacy ? { value, max } : { value, max, prompt_id: promptId, node: nodeId },
          sid,
        );
      },
      preview: png => {
        const format = Buffer.alloc(4);
        format.writeUInt32BE(2);
        this.sendBinary(1, Buffer.concat([format, png]), sid);
      },
      sleep: ms => this.sleepInterruptible(ms),
      save: (type, subfolder, filename, bytes) => {
        this.storeFile(path.posix.join(path.posix.resolve(`/comfy/${type}`, subfolder), filename), bytes);
      },
      load: (type, name) => {
        const bytes = this.files.get(path.posix.resolve(`/comfy/${type}`, name));
        if (bytes) this.inputsRead.push({ name, sha256: createHash('sha256').update(bytes).digest('hex') });
        return bytes;
      },
      counter: (subfolder, prefix) => {
        const key = `${subfolder}/${prefix}`;
        const next = (this.counters.get(key) ?? 0) + 1;
        this.counters.set(key, next);
        return next;
      },
    };
  }

  private async sleepInterruptible(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.interruptFlag) throw new Interrupted();
      await new Promise(resolve => setTimeout(resolve, Math.min(10, end - Date.now())));
    }
    if (ms === 0) await new Promise(resolve => setImmediate(resolve));
  }
}

function errorBody(type: string, message: string, details: string): Record<string, unknown> {
  return { type, message, details, extra_info: {} };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function safeJson(raw: string, seen: SeenRequest): unknown {
  try {
    seen.body = raw.trim() === '' ? undefined : JSON.parse(raw);
  } catch {
    seen.body = undefined;
  }
  return seen.body;
}

async function readRaw(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The parts of a multipart/form-data body (enough of RFC 7578 for ComfyUI's upload form). */
function parseMultipart(body: Buffer, boundary: string): { name: string; filename?: string; data: Buffer }[] {
  const parts: { name: string; filename?: string; data: Buffer }[] = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const next = body.indexOf(delimiter, start + delimiter.length);
    if (next < 0) break;
    const part = body.subarray(start + delimiter.length + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    if (split >= 0) {
      const head = part.subarray(0, split).toString('utf8');
      const name = /name="([^"]*)"/i.exec(head)?.[1];
      const filename = /filename="([^"]*)"/i.exec(head)?.[1];
      if (name !== undefined) {
        parts.push({ name, ...(filename !== undefined ? { filename } : {}), data: part.subarray(split + 4) });
      }
    }
    start = next;
  }
  return parts;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function upstream(prompt: Record<string, PromptNode>, output: string): string[] {
  const seen = new Set<string>();
  const stack = [output];
  while (stack.length) {
    const id = stack.pop();
    if (id === undefined || seen.has(id)) continue;
    seen.add(id);
    for (const input of Object.values(prompt[id]?.inputs ?? {})) {
      if (Array.isArray(input) && typeof input[0] === 'string' && prompt[input[0]]) stack.push(input[0]);
    }
  }
  return [...seen];
}

function inputError(
  type: string,
  message: string,
  name: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { type, message, details: name, extra_info: { input_name: name, ...extra } };
}

/** The per-input checks of ComfyUI's validate_inputs (the subset the fake's classes need). */
function validateInputs(
  node: PromptNode,
  cls: NodeClass,
  prompt: Record<string, PromptNode>,
  exists: (type: 'input', name: string) => boolean,
): Record<string, unknown>[] {
  const errors: Record<string, unknown>[] = [];
  const inputs = isObject(node.inputs) ? node.inputs : {};
  const custom = cls.validate?.(inputs, exists);
  if (custom !== undefined) {
    // ComfyUI's VALIDATE_INPUTS failure shape.
    errors.push({
      type: 'custom_validation_failed',
      message: 'Custom validation failed for node',
      details: `${Object.keys(cls.required)[0] ?? ''} - ${custom}`,
      extra_info: {
        input_name: Object.keys(cls.required)[0] ?? '',
        received_value: inputs[Object.keys(cls.required)[0] ?? ''],
      },
    });
  }
  const specs: [string, InputSpec, boolean][] = [
    ...Object.entries(cls.required).map(([n, s]): [string, InputSpec, boolean] => [n, s, true]),
    ...Object.entries(cls.optional ?? {}).map(([n, s]): [string, InputSpec, boolean] => [n, s, false]),
  ];
  for (const [name, spec, required] of specs) {
    const value = inputs[name];
    if (value === undefined) {
      if (required) errors.push(inputError('required_input_missing', 'Required input is missing', name));
      continue;
    }
    if (Array.isArray(value)) {
      if (value.length !== 2) {
        errors.push(
          inputError(
            'bad_linked_input',
            'Bad linked input, must be a length-2 list of [node_id, slot_index]',
            name,
            { received_value: value },
          ),
        );
        continue;
      }
      const source = prompt[String(value[0])];
      const sourceCls = source ? NODE_CLASSES[source.class_type] : undefined;
      const received = sourceCls?.output[Number(value[1])];
      if (!sourceCls || received === undefined) {
        errors.push(
          inputError('exception_during_inner_validation', 'Exception when validating inner node', name),
        );
      } else if (received !== spec.type) {
        errors.push(
          inputError(
            'return_type_mismatch',
            'Return type mismatch between linked nodes',
            `${name}, received_type(${received}) mismatch input_type(${spec.type})`,
            {
              received_type: received,
            },
          ),
        );
      }
      continue;
    }
    if (spec.type === 'INT' || spec.type === 'FLOAT') {
      const number =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : Number.NaN;
      if (!Number.isFinite(number) || (spec.type === 'INT' && !Number.isInteger(number))) {
        errors.push(
          inputError('invalid_input_type', `Failed to convert an input value to a ${spec.type} value`, name, {
            received_value: value,
          }),
        );
        continue;
      }
      if (spec.min !== undefined && number < spec.min) {
        errors.push(
          inputError('value_smaller_than_min', `Value ${number} smaller than min of ${spec.min}`, name, {
            received_value: value,
          }),
        );
      } else if (spec.max !== undefined && number > spec.max) {
        errors.push(
          inputError('value_bigger_than_max', `Value ${number} bigger than max of ${spec.max}`, name, {
            received_value: value,
          }),
        );
      }
    } else if (spec.type === 'IMAGE') {
      errors.push(inputError('required_input_missing', 'Required input is missing', name));
    }
  }
  return errors;
}

function resolveInputs(
  node: PromptNode,
  cls: NodeClass,
  results: Map<string, unknown[]>,
): Record<string, unknown> {
  const inputs: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries({ ...cls.required, ...(cls.optional ?? {}) })) {
    const value = node.inputs?.[name];
    if (Array.isArray(value)) inputs[name] = results.get(String(value[0]))?.[Number(value[1])];
    else if (value === undefined) inputs[name] = spec.default;
    else inputs[name] = spec.type === 'INT' || spec.type === 'FLOAT' ? Number(value) : value;
  }
  return inputs;
}
