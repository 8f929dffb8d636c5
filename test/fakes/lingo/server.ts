import type http from 'node:http';
import { listen, readText, sendJson, type ListeningServer } from '../rest/http.js';

/**
 * A fake of Lingo, the made-up translation API of docs/writing-a-connector.md (its table
 * of calls is the protocol). A text of `fail me` fails; `forever` never finishes; any
 * other finishes on the fourth status poll, with the reversed text as its translation.
 */
export interface FakeLingoServer extends ListeningServer {
  /** Every translation submitted, by uid. */
  translations: Map<string, FakeTranslation>;
  /** `METHOD /path` of every request, in order. */
  seen: string[];
}

/** One submitted translation. */
export interface FakeTranslation {
  uid: string;
  text: string;
  polls: number;
  cancelled: boolean;
}

/** Starts the fake; every call but `/v2/ping` needs `Authorization: Bearer <apiKey>`. */
export async function startFakeLingo(apiKey: string): Promise<FakeLingoServer> {
  const translations = new Map<string, FakeTranslation>();
  const seen: string[] = [];
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const path = req.url ?? '';
    seen.push(`${req.method} ${path}`);
    if (path === '/v2/ping') return sendJson(res, 200, { pong: true });
    if (req.headers.authorization !== `Bearer ${apiKey}`) return sendJson(res, 401, { message: 'bad key' });
    if (req.method === 'POST' && path === '/v2/translations') {
      const body = JSON.parse(await readText(req)) as { text: string; target_lang: string };
      const uid = `tr_${translations.size + 1}`;
      translations.set(uid, { uid, text: body.text, polls: 0, cancelled: false });
      return sendJson(res, 202, { translation: { uid, state: 'QUEUED' } });
    }
    const match = /^\/v2\/translations\/(tr_\d+)(\/text)?$/.exec(path);
    const translation = match ? translations.get(match[1] ?? '') : undefined;
    if (!translation) return sendJson(res, 404, { message: 'no such translation' });
    if (req.method === 'DELETE') {
      translation.cancelled = true;
      return sendJson(res, 200, {});
    }
    if (match?.[2]) return sendJson(res, 200, { text: translation.text.split('').reverse().join('') });
    translation.polls++;
    const { uid, polls } = translation;
    if (translation.text === 'fail me') {
      return sendJson(res, 200, {
        translation: { uid, state: 'FAILED', failure: { reason: 'unsupported language pair' } },
      });
    }
    if (translation.text === 'forever' || polls < 2) {
      return sendJson(res, 200, {
        translation: { uid, state: polls === 0 ? 'QUEUED' : 'WORKING', percent: 40 },
      });
    }
    if (polls < 4) {
      return sendJson(res, 200, { translation: { uid, state: 'WORKING', percent: 50 * (polls - 1) } });
    }
    return sendJson(res, 200, { translation: { uid, state: 'DONE', percent: 100 } });
  };
  const server = await listen((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  return { ...server, translations, seen };
}
