import type { Telemetry } from 'bullmq';

// The tracing types, apart from index.ts so that sdk.ts (loaded by index.ts on demand) can
// use them without importing index.ts back.

/** The OpenTelemetry settings of the config (the standard OTEL_* variables). */
export interface TelemetryConfig {
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); traces go to `<it>/v1/traces`. */
  endpoint: string;
  /** Full OTLP/HTTP traces URL (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); wins over `endpoint`. */
  tracesEndpoint: string;
  /** `service.name` of every span (OTEL_SERVICE_NAME). */
  serviceName: string;
  /** OTEL_SDK_DISABLED: true keeps tracing off even with an endpoint. */
  disabled: boolean;
}

/** Attribute values a span takes. */
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** The span of one service call, for what is learned during the call (status code, ids). */
export interface ServiceSpan {
  setAttributes(attributes: SpanAttributes): void;
}

/** A started tracing SDK (see ./sdk.ts). */
export interface Tracing {
  /** Passed as `telemetry` to every BullMQ Queue and Worker. */
  bullmq: Telemetry;
  runJob<T>(attributes: SpanAttributes, fn: () => Promise<T>): Promise<T>;
  runServiceCall<T>(
    name: string,
    attributes: SpanAttributes,
    fn: (span: ServiceSpan) => Promise<T>,
  ): Promise<T>;
  annotateJob(attributes: SpanAttributes): void;
  /** Flushes what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}
