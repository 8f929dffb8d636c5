import type http from 'node:http';
import { listen, readText, sendJson, type ListeningServer } from '../rest/http.js';

/** One request the fake saw. */
export interface SummaRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: string;
}

/**
 * A fake of Summa, the made-up summarisation API of docs/writing-a-connector.md (one
 * blocking call per job): `POST /v1/summaries` `{ text, max_words }` answers
 * `{ summary: { text, words } }`. `reject me` gets a 422, `odd answer` an answer without
 * a summary, `take forever` no answer until the client goes away.
 */
export interface FakeSummaServer extends ListeningServer {
  seen: SummaRequest[];
}

/** Starts the fake; every call but `/v1/health` needs `Authorization: Bearer <apiKey>`. */
export async function startFakeSumma(apiKey: string): Promise<FakeSummaServer> {
  const seen: SummaRequest[] = [];
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const body = await readText(req);
    seen.push({
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      body,
    });
    if (req.url === '/v1/health') return sendJson(res, 200, { ok: true });
    if (req.headers.authorization !== `Bearer ${apiKey}`) return sendJson(res, 401, { detail: 'bad key' });
    if (req.method !== 'POST' || req.url !== '/v1/summaries') {
      return sendJson(res, 404, { detail: 'Not Found' });
    }
    const { text, max_words: maxWords } = JSON.parse(body) as { text: string; max_words: number };
    if (text === 'reject me') return sendJson(res, 422, { detail: 'language not supported' });
    if (text === 'odd answer') return sendJson(res, 200, { result: 'no summary here' });
    if (text === 'take forever') return; // the client's abort (or the server's close) ends it
    const words = text.split(/\s+/).slice(0, maxWords);
    return sendJson(res, 200, { summary: { text: words.join(' '), words: words.length } });
  };
  const server = await listen((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  return { ...server, seen };
}
