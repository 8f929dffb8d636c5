import { restAsyncConnector } from '../../src/connectors/services/rest-async/index.js';
import { connectorContract } from '../../src/testing/connector-contract.js';
import { startFakeRest } from '../fakes/rest/server.js';
import { buildConnector, jestFunctions } from './build.js';

const PASSWORD = 'contract-async-pass-c41d';

connectorContract(jestFunctions, {
  name: 'rest_async',
  startService: () => startFakeRest({ username: 'worker', password: PASSWORD }),
  create: url =>
    buildConnector(restAsyncConnector, {
      WORKER_REST_ASYNC_BASE_URL: url,
      WORKER_REST_ASYNC_USERNAME: 'worker',
      WORKER_REST_ASYNC_PASSWORD: PASSWORD,
      WORKER_REST_ASYNC_POLL_INTERVAL: '0.02',
    }),
  validJob: { fake: { steps: 3, step_ms: 20 } },
  longJob: { fake: { steps: 1000, step_ms: 1000 } },
  secrets: [PASSWORD],
});
