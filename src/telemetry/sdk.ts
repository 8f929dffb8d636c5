import {
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  trace,
  type Attributes,
  type Span,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import { BullMQOtel } from 'bullmq-otel';
import type { Logger } from 'winston';
import type { ServiceSpan, SpanAttributes, TelemetryConfig, Tracing } from './index.js';

const NO_SPAN: ServiceSpan = { setAttributes: () => undefined };

/** Tracer and instrumentation scope name of our own spans. */
const TRACER_NAME = 'emp-worker';

/** The running job's attributes, carried in the OpenTelemetry context to its service calls. */
const JOB_ATTRIBUTES = createContextKey('emp-worker job attributes');

/** The job's attributes (mutable: service ids are added as they are learned) and its span. */
interface JobScope {
  attributes: Attributes;
  span: Span | undefined;
}

/**
 * Starts the OpenTelemetry trace SDK: OTLP/HTTP export (URL, headers, batching and
 * sampling from the standard OTEL_* variables), W3C trace context propagation (what
 * bullmq-otel carries inside jobs), and one warning when the collector cannot be reached.
 * Loaded only through `startTracing` (dynamic import).
 */
export function startSdk(config: TelemetryConfig, logger: Logger): Tracing {
  const url = config.tracesEndpoint !== '' ? config.tracesEndpoint : joinTracesPath(config.endpoint);
  const shown = withoutCredentials(url);
  const exporter = new ReportingExporter(new OTLPTraceExporter({ url }), shown, logger);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }).merge(
      detectResources({ detectors: [envDetector] }),
    ),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  const tracer = trace.getTracer(TRACER_NAME);
  logger.info(`tracing to ${shown} as service "${config.serviceName}"`);

  const scope = (): JobScope | undefined => context.active().getValue(JOB_ATTRIBUTES) as JobScope | undefined;

  return {
    bullmq: new BullMQOtel({ tracerName: TRACER_NAME }),
    runJob(attributes, fn) {
      const span = trace.getActiveSpan();
      const job: JobScope = { attributes: clean(attributes), span };
      span?.setAttributes(job.attributes);
      return context.with(context.active().setValue(JOB_ATTRIBUTES, job), fn);
    },
    runServiceCall(name, attributes, fn) {
      const job = scope();
      // Calls outside any job (health checks every few seconds) would only be noise.
      if (!job) return fn(NO_SPAN);
      return tracer.startActiveSpan(
        name,
        { kind: SpanKind.CLIENT, attributes: { ...job?.attributes, ...clean(attributes) } },
        async span => {
          const handle: ServiceSpan = { setAttributes: more => span.setAttributes(clean(more)) };
          try {
            return await fn(handle);
          } catch (error) {
            recordError(span, error);
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },
    annotateJob(attributes) {
      const job = scope();
      if (!job) return;
      Object.assign(job.attributes, clean(attributes));
      job.span?.setAttributes(clean(attributes));
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}

/** Records a failure on the span: the error, its stable `code` as `error.type`, status ERROR. */
function recordError(span: Span, error: unknown): void {
  const code =
    typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
      ? (error as { code: string }).code
      : error instanceof Error
        ? error.name
        : 'Error';
  span.setAttribute('error.type', code);
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

function clean(attributes: SpanAttributes): Attributes {
  const result: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) result[key] = value;
  return result;
}

/** The URL without user and password, for logs. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

function joinTracesPath(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Passes spans to the OTLP exporter and says once when export starts failing (and once
 * when it works again), instead of nothing (the SDK's default) or a line per batch.
 * Spans of a failed batch are dropped; jobs never wait for the collector.
 */
class ReportingExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.inner.export(spans, result => {
      // ExportResultCode.SUCCESS is 0 (the enum lives in @opentelemetry/core, not a dependency).
      const ok = Number(result.code) === 0;
      if (!ok && !this.failing) {
        this.failing = true;
        this.logger.warn(
          `cannot export traces to ${this.url}: ${result.error?.message ?? 'export failed'}; jobs keep running, spans are dropped until the collector answers`,
        );
      } else if (ok && this.failing) {
        this.failing = false;
        this.logger.info(`trace export to ${this.url} works again`);
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
