import type { Telemetry } from 'bullmq';
import type { Logger } from 'winston';
import type { ServiceSpan, SpanAttributes, TelemetryConfig, Tracing } from './types.js';

export type { ServiceSpan, SpanAttributes, TelemetryConfig, Tracing } from './types.js';

const NO_SPAN: ServiceSpan = { setAttributes: () => undefined };

/** The process's tracing, once started; undefined (the usual case) costs one check per call. */
let active: Tracing | undefined;

/** True when an OTLP endpoint is configured and the SDK is not disabled. */
export function tracingConfigured(config: TelemetryConfig): boolean {
  return !config.disabled && (config.endpoint !== '' || config.tracesEndpoint !== '');
}

/**
 * Starts the OpenTelemetry SDK when an endpoint is configured. Without one nothing is
 * loaded: the SDK is imported only here, on demand, so a worker without tracing pays nothing.
 */
export async function startTracing(config: TelemetryConfig, logger: Logger): Promise<Tracing | undefined> {
  if (active || !tracingConfigured(config)) return active;
  const { startSdk } = await import('./sdk.js');
  active = startSdk(config, logger);
  return active;
}

/** Flushes and stops tracing, if it runs. */
export async function stopTracing(): Promise<void> {
  const tracing = active;
  active = undefined;
  await tracing?.shutdown();
}

/** `{ telemetry }` to spread into BullMQ Queue and Worker options; empty when tracing is off. */
export function bullmqTelemetry(): { telemetry?: Telemetry } {
  return active ? { telemetry: active.bullmq } : {};
}

/** Whether tracing runs: the processor then skips even building the call to {@link traceJob}. */
export function tracingActive(): boolean {
  return active !== undefined;
}

/**
 * Runs a job's connector work with its connector, queue and job id attached, so every
 * service call span inside carries them. Runs `fn` as is when tracing is off (no
 * attribute object is even built then: this is on every job's path).
 */
export function traceJob<T>(
  connector: string,
  queue: string,
  jobId: string,
  fn: () => Promise<T>,
): Promise<T> {
  return active
    ? active.runJob({ 'emp.connector': connector, 'emp.queue': queue, 'emp.job.id': jobId }, fn)
    : fn();
}

/**
 * Runs one service call (HTTP request, WebSocket wait, upload) in a span named `name`; a
 * thrown error is recorded with its `code`. Runs `fn` as is when tracing is off.
 */
export function traceServiceCall<T>(
  name: string,
  attributes: SpanAttributes,
  fn: (span: ServiceSpan) => Promise<T>,
): Promise<T> {
  return active ? active.runServiceCall(name, attributes, fn) : fn(NO_SPAN);
}

/** Adds service ids (prompt_id, an async job id) to the running job's spans from now on. */
export function annotateJob(attributes: SpanAttributes): void {
  active?.annotateJob(attributes);
}
