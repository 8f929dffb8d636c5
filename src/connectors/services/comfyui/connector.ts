import { randomUUID } from 'node:crypto';
import { abortStopsServiceWork } from '../../../core/abort.js';
import { ServiceRejectedError, ServiceUnavailableError } from '../../../core/errors.js';
import { HttpClient } from '../../protocols/http/client.js';
import type { Capabilities, ConnectorDeps, HealthResult, JobContext } from '../../types.js';
import { isPlainObject, type JsonObject } from '../../../core/validate.js';
import { WebSocketConnector } from '../../protocols/websocket/base.js';
import type { MessageStream } from '../../protocols/websocket/stream.js';
import { VERSION, type ComfyUIConfig } from './config.js';
import { collectOutputs, type ComfyOutput } from './outputs.js';
import { storeOutputFiles, uploadInputImages } from './media.js';
import { WorkflowProgress } from './progress.js';
import {
  clip,
  describeNodeError,
  describePromptRejection,
  firstNodeError,
  executionError,
  historyFailure,
  interruptedError,
  missingPromptId,
  queueState,
  type HistoryEntry,
  type PromptState,
} from './protocol.js';
import { parseComfyJob, type ComfyJob } from './workflow.js';
import { annotateJob } from '../../../telemetry/index.js';
import { describeError } from '../../../logging/errors.js';

/** The checkpoint key holding the job's ComfyUI prompt id (read back on a retried attempt). */
export const PROMPT_ID_KEY = 'prompt_id';

/** How long the calls that tell ComfyUI to stop a prompt may take after an abort. */
const STOP_TIMEOUT_MS = 5000;

/**
 * Runs API-format workflows on a stock ComfyUI (docs/connectors/comfyui.md): one WebSocket per worker
 * (a fixed `clientId`) shared by its jobs, `POST /prompt` with that `client_id`, progress
 * from the prompt's messages (filtered by `prompt_id`), outputs from `/history`.
 * It re-attaches to a prompt an earlier attempt submitted, polls when the socket drops
 * or goes silent, and tells ComfyUI to stop on cancel and timeout.
 */
export class ComfyUIConnector extends WebSocketConnector<ComfyUIConfig> {
  readonly name = 'comfyui';
  /** This worker's ComfyUI client id: messages of the prompts it submits come to its socket. */
  readonly clientId = randomUUID().replace(/-/g, '');
  private readonly viewHttp: HttpClient;

  constructor(config: ComfyUIConfig, deps: ConnectorDeps) {
    super(config, deps, 'ComfyUI');
    // A cap of its own: inline images must not fill memory before the size check.
    this.viewHttp = this.serviceClient(config.inlineMaxBytes);
  }

  protected webSocketPath(): string {
    return `${this.config.apiPrefix}/ws?clientId=${this.clientId}`;
  }

  /** Validates, re-attaches or submits, then follows the prompt to its end. */
  protected async processServiceJob(ctx: JobContext, stream: MessageStream): Promise<ComfyOutput> {
    const job = parseComfyJob(ctx.data);
    let promptId: string | undefined;
    try {
      const saved = ctx.checkpoint.get<unknown>(PROMPT_ID_KEY);
      if (typeof saved === 'string' && saved !== '') {
        promptId = saved;
        annotateJob({ 'emp.service.prompt_id': promptId });
        const found = await this.promptState(promptId, ctx.signal);
        if (found.state === 'done') {
          await ctx.log(
            `re-attached to ComfyUI prompt_id ${promptId}: it already finished; collecting its outputs`,
          );
          return await this.finish(ctx, promptId, found.entry);
        }
        if (found.state !== 'unknown') {
          await ctx.log(
            `re-attached to ComfyUI prompt_id ${promptId}: still ${found.state}; following it instead of submitting again`,
          );
          // Its messages go to the client id of the worker that submitted it, not to ours: poll.
          return await this.monitorServiceProgress(ctx, stream, promptId, { poll: true });
        }
        await ctx.log(
          `ComfyUI does not know prompt_id ${promptId} (never queued, or ComfyUI restarted); submitting the workflow again`,
        );
      }
      promptId ??= randomUUID();
      await uploadInputImages(ctx, this.http, this.config.apiPrefix, job.images);
      promptId = await this.submit(ctx, job, promptId);
      annotateJob({ 'emp.service.prompt_id': promptId });
      return await this.monitorServiceProgress(ctx, stream, promptId);
    } catch (error) {
      if (ctx.signal.aborted && promptId !== undefined && abortStopsServiceWork(ctx.signal)) {
        await this.stopPrompt(ctx, promptId);
      }
      throw error;
    }
  }

  /**
   * `POST /prompt` with our `client_id` and a prompt id we chose and saved first, so a
   * crash right after the POST still finds the prompt on ComfyUI versions that accept
   * client prompt ids (2025-07 on); older ones return their own id, which is saved at once.
   */
  private async submit(ctx: JobContext, job: ComfyJob, proposedId: string): Promise<string> {
    if (ctx.checkpoint.get<unknown>(PROMPT_ID_KEY) !== proposedId) {
      await ctx.checkpoint.set(PROMPT_ID_KEY, proposedId);
    }
    const response = await this.http.request({
      method: 'POST',
      path: `${this.config.apiPrefix}/prompt`,
      json: {
        prompt: job.prompt,
        client_id: this.clientId,
        prompt_id: proposedId,
        ...(job.extraData ? { extra_data: job.extraData } : {}),
      },
      signal: ctx.signal,
      acceptStatus: status => (status >= 200 && status < 300) || status === 400,
    });
    let body: unknown;
    try {
      body = JSON.parse(response.text);
    } catch {
      body = response.text;
    }
    if (response.status === 400) {
      throw new ServiceRejectedError(describePromptRejection(400, body), {
        service: 'ComfyUI',
        endpoint: `POST ${this.config.apiPrefix}/prompt`,
        status: 400,
        ...firstNodeError(body),
      });
    }
    const returned = isPlainObject(body) ? body.prompt_id : undefined;
    if (typeof returned !== 'string' || returned === '') throw missingPromptId(body);
    if (returned !== proposedId) await ctx.checkpoint.set(PROMPT_ID_KEY, returned);
    await ctx.log(`ComfyUI prompt_id ${returned}`);
    if (isPlainObject(body) && isPlainObject(body.node_errors) && Object.keys(body.node_errors).length > 0) {
      const skipped = Object.entries(body.node_errors).map(([id, entry]) => describeNodeError(id, entry));
      await ctx.log(`ComfyUI skipped outputs that failed validation: ${clip(skipped.join('; '), 800)}`);
    }
    return returned;
  }

  /**
   * Follows the prompt until ComfyUI says it ended, then reads `/history`. Messages are
   * filtered by `prompt_id`. When no message about the prompt arrives for `watchdog`
   * seconds, or the socket drops, it polls `/queue` and `/history` (and reopens a silent
   * socket) until the prompt ends or ComfyUI no longer knows it: it never hangs.
   */
  protected async monitorServiceProgress(
    ctx: JobContext,
    stream: MessageStream,
    promptId: string,
    options: { poll?: boolean } = {},
  ): Promise<ComfyOutput> {
    const progress = new WorkflowProgress(parseComfyJob(ctx.data).prompt);
    const watchdogMs = this.config.watchdog * 1000;
    const pollMs = this.config.pollInterval * 1000;
    // A prompt served from cache can end before the socket shows anything: look now.
    let state = await this.promptState(promptId, ctx.signal);
    if (state.state === 'done') return this.finish(ctx, promptId, state.entry);
    if (state.state === 'unknown') throw lostPrompt(promptId);
    reportWaiting(ctx, promptId, state);

    let ours = state.state === 'running';
    let lastHeard = Date.now();
    let lastChecked = Date.now();
    // A re-attached prompt's messages go to the client id of the worker that submitted it:
    // it is followed by polling from the start to its end, whatever the socket says.
    const alwaysPoll = options.poll === true;
    let polling = alwaysPoll || !this.connected;
    let restartedForSilence = false;
    let endedAt: number | undefined;
    for (;;) {
      // Deadlines, not per-read timeouts: other clients' traffic (every queue change is
      // broadcast to every socket) must not put off a poll or the watchdog.
      const due = polling || endedAt !== undefined ? lastChecked + pollMs : lastHeard + watchdogMs;
      const wait = due - Date.now();
      const event = wait > 0 ? await stream.next(wait) : undefined;
      let check = false;
      if (event === undefined) {
        check = true;
        if (!polling && Date.now() - lastHeard >= watchdogMs) {
          polling = true;
          ctx.logger.warn(
            `no ComfyUI message about prompt ${promptId} for ${this.config.watchdog} s; polling /queue and /history`,
          );
        }
      } else if (event.kind === 'disconnected') {
        polling = true;
        continue;
      } else if (event.kind === 'reconnected') {
        // Whatever happened while the socket was down is only in /history and /queue.
        check = true;
      } else if (event.kind === 'json') {
        const data = isPlainObject(event.data) ? event.data : {};
        const id = typeof data.prompt_id === 'string' ? data.prompt_id : undefined;
        if (event.type === 'execution_start') ours = id === promptId;
        if (id !== undefined ? id !== promptId : !(ours && event.type === 'progress')) continue;
        lastHeard = Date.now();
        polling = alwaysPoll;
        restartedForSilence = false;
        switch (event.type) {
          case 'execution_start':
            ctx.progress({ status: 'running', message: `ComfyUI started prompt ${promptId}` });
            break;
          case 'execution_cached':
            ctx.progress(progress.cached(stringList(data.nodes)));
            break;
          case 'executing':
            if (data.node === null || data.node === undefined) {
              endedAt = Date.now();
              check = true;
            } else {
              ctx.progress(
                progress.executing(
                  typeof data.node === 'number'
                    ? String(data.node)
                    : typeof data.node === 'string'
                      ? data.node
                      : '?',
                ),
              );
            }
            break;
          case 'progress': {
            const value = Number(data.value);
            const max = Number(data.max);
            const node = typeof data.node === 'string' ? data.node : undefined;
            if (Number.isFinite(value) && Number.isFinite(max)) {
              ctx.progress(progress.steps(value, max, node));
            }
            break;
          }
          case 'executed':
            if (typeof data.node === 'string') ctx.progress(progress.executed(data.node));
            break;
          case 'execution_error':
            throw executionError(promptId, data);
          case 'execution_interrupted':
            throw interruptedError(promptId, data);
          default:
            break;
        }
      }
      if (!check) continue;
      state = await this.promptState(promptId, ctx.signal);
      lastChecked = Date.now();
      if (state.state === 'done') return this.finish(ctx, promptId, state.entry);
      if (state.state === 'unknown') {
        // History is written before the final message, so "unknown" after it means ComfyUI lost it.
        if (endedAt === undefined || Date.now() - endedAt > watchdogMs) throw lostPrompt(promptId);
        continue;
      }
      reportWaiting(ctx, promptId, state);
      if (
        polling &&
        !alwaysPoll &&
        this.connected &&
        !restartedForSilence &&
        state.state === 'running' &&
        Date.now() - lastHeard >= watchdogMs
      ) {
        // Open socket, running prompt, no word: ComfyUI may have dropped our registration
        // (a reconnect race in its socket registry). A fresh socket re-registers the id.
        restartedForSilence = true;
        this.restartSocket();
      }
    }
  }

  /** Where ComfyUI has the prompt: queue first, then history (so a prompt finishing in between is not missed). */
  private async promptState(promptId: string, signal: AbortSignal): Promise<PromptState> {
    const queue = queueState(
      await this.http.json({ path: `${this.config.apiPrefix}/queue`, signal }),
      promptId,
    );
    if (queue.state !== 'unknown') return queue;
    const history = await this.http.json<unknown>({
      path: `${this.config.apiPrefix}/history/${encodeURIComponent(promptId)}`,
      signal,
    });
    const entry = isPlainObject(history) ? history[promptId] : undefined;
    return isPlainObject(entry) ? { state: 'done', entry } : { state: 'unknown' };
  }

  /** A finished prompt: its recorded failure, or every output it produced. */
  private async finish(ctx: JobContext, promptId: string, entry: HistoryEntry): Promise<ComfyOutput> {
    const failure = historyFailure(promptId, entry);
    if (failure) throw failure;
    const stored = ctx.outputs.enabled;
    const output = await collectOutputs(promptId, entry, {
      http: this.http,
      viewHttp: this.viewHttp,
      apiPrefix: this.config.apiPrefix,
      // With a store, files go there and never inline into the result (it lives in Redis).
      inline: this.config.inlineOutputs && !stored,
      inlineMaxBytes: this.config.inlineMaxBytes,
      signal: ctx.signal,
    });
    // A store failure is retryable: the retry re-attaches here through the saved prompt id.
    return stored ? storeOutputFiles(ctx, this.http, this.config.apiPrefix, output) : output;
  }

  /**
   * Cancel or timeout: remove the prompt from ComfyUI's queue and interrupt it if it runs.
   * The interrupt names our prompt id and is only sent while it runs, because ComfyUI
   * before 2025-09 ignores the id and would stop whatever prompt is running.
   */
  private async stopPrompt(ctx: JobContext, promptId: string): Promise<void> {
    const signal = AbortSignal.timeout(STOP_TIMEOUT_MS);
    const prefix = this.config.apiPrefix;
    try {
      await this.http.request({
        method: 'POST',
        path: `${prefix}/queue`,
        json: { delete: [promptId] },
        signal,
      });
      const state = queueState(await this.http.json({ path: `${prefix}/queue`, signal }), promptId);
      if (state.state === 'running') {
        await this.http.request({
          method: 'POST',
          path: `${prefix}/interrupt`,
          json: { prompt_id: promptId },
          signal,
        });
        await ctx.log(`told ComfyUI to interrupt prompt_id ${promptId}`);
      } else {
        await ctx.log(`removed prompt_id ${promptId} from ComfyUI's queue`);
      }
    } catch (error) {
      ctx.logger.warn(`could not tell ComfyUI to stop prompt ${promptId}`, { error: describeError(error) });
    }
  }

  async checkHealth(signal: AbortSignal): Promise<HealthResult> {
    try {
      const stats = await this.systemStats(signal);
      const devices = deviceList(stats).map(device =>
        typeof device.name === 'string' ? device.name : typeof device.type === 'string' ? device.type : '?',
      );
      const version = systemField(stats, 'comfyui_version');
      return {
        healthy: true,
        detail: `ComfyUI${version ? ` ${version}` : ''} at ${this.httpBaseUrl()} answers ${this.config.apiPrefix}/system_stats; ${devices.length} device(s)${devices.length ? `: ${devices.join(', ')}` : ''}`,
      };
    } catch (error) {
      return { healthy: false, detail: describeError(error) };
    }
  }

  async getCapabilities(signal: AbortSignal): Promise<Capabilities> {
    const capabilities: Capabilities = {
      comfyui_connector_version: VERSION,
      supports_workflows: true,
      payload_forms: ['graph', '{prompt, extra_data}', '{workflow}'],
      output_kinds: ['images', 'gifs', 'audio', 'text', 'other UI outputs'],
      inline_outputs: this.config.inlineOutputs,
      api_prefix: this.config.apiPrefix,
      websocket: this.webSocketUrl().replace(/clientId=.*/, 'clientId=…'),
    };
    try {
      const [stats, objectInfo] = await Promise.all([
        this.systemStats(signal),
        this.http.json<unknown>({ path: `${this.config.apiPrefix}/object_info`, signal, timeoutMs: 60_000 }),
      ]);
      const info = isPlainObject(objectInfo) ? objectInfo : {};
      return {
        ...capabilities,
        comfyui_version: systemField(stats, 'comfyui_version') ?? 'unknown (before 0.2)',
        python_version: systemField(stats, 'python_version'),
        pytorch_version: systemField(stats, 'pytorch_version'),
        os: systemField(stats, 'os'),
        devices: deviceList(stats).map(device => ({
          name: device.name,
          type: device.type,
          vram_total: device.vram_total,
          vram_free: device.vram_free,
        })),
        node_classes: Object.keys(info).length,
        output_node_classes: Object.values(info).filter(def => isPlainObject(def) && def.output_node === true)
          .length,
      };
    } catch (error) {
      return { ...capabilities, service_error: describeError(error) };
    }
  }

  private systemStats(signal: AbortSignal): Promise<unknown> {
    return this.http.json<unknown>({ path: `${this.config.apiPrefix}/system_stats`, signal });
  }
}

function reportWaiting(ctx: JobContext, promptId: string, state: PromptState): void {
  if (state.state === 'pending') {
    ctx.progress({
      status: 'queued',
      message: `waiting in ComfyUI's queue as prompt ${promptId}${state.ahead > 0 ? ` (${state.ahead} ahead)` : ''}`,
    });
  }
}

function lostPrompt(promptId: string): ServiceUnavailableError {
  return new ServiceUnavailableError(
    `ComfyUI no longer knows prompt ${promptId}: it is neither queued nor in /history (ComfyUI restarted or the history was cleared)`,
  );
}

function stringList(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter(item => typeof item === 'string' || typeof item === 'number').map(String)
    : [];
}

function systemField(stats: unknown, key: string): string | undefined {
  const system = isPlainObject(stats) && isPlainObject(stats.system) ? stats.system : {};
  const value = system[key];
  return typeof value === 'string' ? value : undefined;
}

function deviceList(stats: unknown): JsonObject[] {
  return isPlainObject(stats) && Array.isArray(stats.devices) ? stats.devices.filter(isPlainObject) : [];
}
