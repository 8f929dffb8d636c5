import { describe, test, beforeAll, afterAll } from '@jest/globals';
import { expectGuideExcerptsIn } from '../helpers/guide.js';
import { lingoConnector } from '../../src/connectors/services/example/index.js';
import { connectorContract } from '../../src/testing/connector-contract.js';
import { startFakeLingo } from '../fakes/lingo/server.js';
import { buildConnector } from './build.js';

// The guide's worked example, run as docs/writing-a-connector.md ("Run the contract suite") shows.
const API_KEY = 'contract-lingo-key-0b7d';

connectorContract(
  { describe, test, beforeAll, afterAll },
  {
    name: 'lingo',
    startService: () => startFakeLingo(API_KEY),
    create: url =>
      buildConnector(lingoConnector, {
        WORKER_LINGO_BASE_URL: url,
        WORKER_LINGO_API_KEY: API_KEY,
        WORKER_LINGO_POLL_INTERVAL: '0.02',
      }),
    validJob: { text: 'hello', target_lang: 'de' },
    longJob: { text: 'forever', target_lang: 'it' },
    secrets: [API_KEY],
  },
);

test('docs/writing-a-connector.md shows this file as it is', () => {
  expectGuideExcerptsIn('test/contract/example.test.ts', 1);
});
