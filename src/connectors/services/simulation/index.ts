import type { Schema } from 'convict';
import {
  commonConnectorSchema,
  connectorEnv,
  type CommonConnectorConfig,
} from '../../../config/connector-schema.js';
import { formats } from '../../../config/formats.js';
import { abortableSleep } from '../../../core/abortable-sleep.js';
import { InvalidInputError, ServiceFailedError } from '../../../core/errors.js';
import { defineConnector } from '../../definition.js';
import type { Capabilities, Connector, JobContext } from '../../types.js';
import { MAX_DURATION_MS, MAX_STEPS, simulationJobSchema } from './schema.js';

export { MAX_DURATION_MS, MAX_STEPS } from './schema.js';

/** Logged at start-up and shown by `emp-worker details simulation`. */
export const VERSION = '1.0.0';

/** Simulation settings: the defaults for jobs that do not say. */
export interface SimulationConfig extends CommonConnectorConfig {
  /** Steps a job has when its data has no `steps`. */
  steps: number;
  /** Seconds a job takes when its data has no `duration_ms`. */
  processingTime: number;
}

const configSchema: Schema<SimulationConfig> = {
  ...commonConnectorSchema('simulation', { concurrency: 1, timeoutSeconds: 3600 }),
  steps: {
    doc: 'Steps of a simulated job whose data has no "steps".',
    format: formats.positiveInt,
    default: 5,
    env: connectorEnv('simulation', 'STEPS'),
  },
  processingTime: {
    doc: 'Seconds a simulated job takes when its data has no "duration_ms".',
    format: Number,
    default: 10,
    env: connectorEnv('simulation', 'PROCESSING_TIME'),
  },
};

interface SimulationJob {
  steps: number;
  durationMs: number;
  failAtStep: number | undefined;
  result: unknown;
}

/** Simulated work: no service, just steps, progress and an optional failure. */
export class SimulationConnector implements Connector {
  readonly name = 'simulation';

  constructor(private readonly config: SimulationConfig) {}

  async process(ctx: JobContext): Promise<unknown> {
    const job = this.parse(ctx.data);
    const stepMs = job.durationMs / job.steps;
    for (let step = 1; step <= job.steps; step++) {
      // A 0 ms job runs its steps without yielding, so nothing can abort it midway.
      if (stepMs > 0) await abortableSleep(stepMs, ctx.signal);
      if (job.failAtStep === step) {
        throw new ServiceFailedError(`simulated failure at step ${step} of ${job.steps}`, {
          retryable: true,
        });
      }
      ctx.progress({
        progress: (step / job.steps) * 100,
        status: 'running',
        message: `step ${step} of ${job.steps}`,
        step,
        total_steps: job.steps,
      });
    }
    return job.result !== undefined ? job.result : { steps: job.steps, duration_ms: job.durationMs };
  }

  async getCapabilities(): Promise<Capabilities> {
    return {
      simulation_version: VERSION,
      default_steps: this.config.steps,
      default_processing_time: this.config.processingTime,
      supports_failure_injection: true,
    };
  }

  private parse(data: unknown): SimulationJob {
    const body = simulationJobSchema.parse(data);
    const steps = body.steps ?? Math.min(MAX_STEPS, this.config.steps);
    const durationMs =
      body.duration_ms ?? Math.min(MAX_DURATION_MS, Math.round(this.config.processingTime * 1000));
    const failAtStep = body.fail_at_step ?? undefined;
    if (failAtStep !== undefined && failAtStep > steps) {
      throw new InvalidInputError(`/fail_at_step: expected integer ≤ steps (${steps}), got ${failAtStep}`);
    }
    return { steps, durationMs, failAtStep, result: body.result };
  }
}

/** Registry entry of the simulation connector. */
export const simulationConnector = defineConnector<SimulationConfig>({
  name: 'simulation',
  version: VERSION,
  description: 'Simulated work with progress, for trying the worker without a service',
  configSchema,
  jobSchema: simulationJobSchema,
  create: config => new SimulationConnector(config),
});
