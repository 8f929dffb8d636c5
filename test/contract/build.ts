import { describe, test, beforeAll, afterAll } from '@jest/globals';
import convict from 'convict';
import type { CommonConnectorConfig } from '../../src/config/connector-schema.js';
import { registerFormats } from '../../src/config/formats.js';
import type { RegisteredConnector } from '../../src/connectors/definition.js';
import type { Connector } from '../../src/connectors/types.js';
import { createLogger } from '../../src/logging/logger.js';
import type { ContractTestFunctions } from '../../src/testing/connector-contract.js';

/** Jest's functions in the shape the contract suite takes. */
export const jestFunctions: ContractTestFunctions = { describe, test, beforeAll, afterAll };

/** Builds a connector the way the worker does: its own config keys from env-style settings, validated strictly. */
export function buildConnector(definition: RegisteredConnector, env: Record<string, string>): Connector {
  registerFormats();
  const config = convict(definition.configSchema, { env, args: [] });
  config.validate({ allowed: 'strict' });
  return definition.create(config.getProperties() as CommonConnectorConfig, {
    logger: createLogger({ level: 'silent', format: 'json' }),
  });
}
