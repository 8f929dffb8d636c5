import { summaConnector } from '../../src/connectors/services/example/sync.js';
import { connectorContract } from '../../src/testing/connector-contract.js';
import { startFakeSumma, type FakeSummaServer } from '../fakes/summa/server.js';
import { buildConnector, jestFunctions } from './build.js';

// The guide's second example (one blocking call per job, on the sync base).
const API_KEY = 'contract-summa-key-93c2';
let fake: FakeSummaServer | undefined;

connectorContract(jestFunctions, {
  name: 'summa (the guide sync example)',
  startService: async () => (fake = await startFakeSumma(API_KEY)),
  create: url =>
    buildConnector(summaConnector, { WORKER_SUMMA_BASE_URL: url, WORKER_SUMMA_API_KEY: API_KEY }),
  validJob: { text: 'one two three four', max_words: 2 },
  longJob: { text: 'take forever' },
  // One blocking call with nothing to watch: running once the fake has the request.
  reportsProgress: false,
  isRunning: () => (fake?.seen ?? []).some(request => request.body.includes('take forever')),
  secrets: [API_KEY],
});
