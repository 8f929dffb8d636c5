import { a1111Connector } from '../../src/connectors/services/a1111/index.js';
import { connectorContract } from '../../src/testing/connector-contract.js';
import { startFakeA1111 } from '../fakes/a1111/server.js';
import { buildConnector, jestFunctions } from './build.js';

const PASSWORD = 'contract-a1111-pass-92be';

connectorContract(jestFunctions, {
  name: 'a1111',
  startService: () => startFakeA1111({ username: 'webui', password: PASSWORD, stepMs: 20 }),
  create: url =>
    buildConnector(a1111Connector, {
      WORKER_A1111_BASE_URL: url,
      WORKER_A1111_USERNAME: 'webui',
      WORKER_A1111_PASSWORD: PASSWORD,
      WORKER_A1111_PROGRESS_INTERVAL: '0.02',
    }),
  validJob: { payload: { prompt: 'a cat', steps: 10 } },
  longJob: { payload: { prompt: 'a long one', steps: 150, n_iter: 100 } },
  secrets: [PASSWORD],
});
