import { restConnector } from '../../src/connectors/services/rest/index.js';
import { connectorContract } from '../../src/testing/connector-contract.js';
import { startFakeRest, type FakeRestServer } from '../fakes/rest/server.js';
import { buildConnector, jestFunctions } from './build.js';

const API_KEY = 'contract-rest-key-7f3a91';
let fake: FakeRestServer | undefined;

connectorContract(jestFunctions, {
  name: 'rest',
  startService: async () => (fake = await startFakeRest({ apiKey: API_KEY })),
  create: url => buildConnector(restConnector, { WORKER_REST_BASE_URL: url, WORKER_REST_API_KEY: API_KEY }),
  validJob: { prompt: 'a cat' },
  // One blocking call with nothing to watch: the service says nothing until it answers.
  reportsProgress: false,
  longJob: { fake: { hang: true } },
  // One blocking call: running once the fake has the request.
  isRunning: () => (fake?.seen('/api/process') ?? []).some(r => JSON.stringify(r.body).includes('"hang"')),
  secrets: [API_KEY],
});
