import { simulationConnector } from '../../src/connectors/services/simulation/index.js';
import { connectorContract } from '../../src/testing/connector-contract.js';
import { buildConnector, jestFunctions } from './build.js';

// No service behind it: the failure-classification part of the contract does not apply.
connectorContract(jestFunctions, {
  name: 'simulation',
  create: () => buildConnector(simulationConnector, {}),
  validJob: { steps: 5, duration_ms: 50 },
  longJob: { steps: 10_000, duration_ms: 600_000 },
});
