import type { Schema } from 'convict';
import type { CommonConnectorConfig } from '../config/connector-schema.js';
import type { PayloadSchema } from '../core/schema.js';
import type { Connector, ConnectorDeps } from './types.js';

/**
 * Everything the runtime needs to know about one connector: its config keys (part of the
 * one convict schema), defaults, and a factory.
 */
export interface ConnectorDefinition<C extends CommonConnectorConfig> {
  /** Registry name and `CONNECTORS` value. */
  name: string;
  /** The connector's code version: logged at start-up, written to the heartbeat, shown by `details`. */
  version: string;
  /** One line for `--help` and docs. */
  description: string;
  /** The connector's own config keys, nested under `connectors.<name>`. */
  configSchema: Schema<C>;
  /**
   * The one definition of the connector's job data: the connector validates with it and
   * docs/schemas/<name>.json and `emp-worker schema <name>` are generated from it.
   */
  jobSchema: PayloadSchema<unknown>;
  /** Builds the connector from its validated config slice. */
  create(config: C, deps: ConnectorDeps): Connector;
}

/** A definition with its config type erased, so different connectors fit one map. */
export interface RegisteredConnector {
  name: string;
  version: string;
  description: string;
  configSchema: Schema<unknown>;
  jobSchema: PayloadSchema<unknown>;
  create(config: CommonConnectorConfig, deps: ConnectorDeps): Connector;
}

/**
 * Erases a definition's config type for the registry. Sound because the runtime only
 * passes a config slice that convict has validated against this same `configSchema`.
 */
export function defineConnector<C extends CommonConnectorConfig>(
  definition: ConnectorDefinition<C>,
): RegisteredConnector {
  return {
    name: definition.name,
    version: definition.version,
    description: definition.description,
    configSchema: definition.configSchema,
    jobSchema: definition.jobSchema,
    create: (config, deps) => definition.create(config as C, deps),
  };
}
