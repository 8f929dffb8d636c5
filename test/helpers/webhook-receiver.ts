import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { Webhook } from 'standardwebhooks';
import { readBody, startHttpServer, type TestServer } from './http-server.js';

/** A fresh `whsec_…` secret. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** One request the receiver got, after verification with the reference `standardwebhooks` package. */
export interface ReceivedWebhook {
  id: string;
  verified: boolean;
  /** The verified body, parsed (undefined when verification failed). */
  body: { type: string; timestamp: string; data: Record<string, unknown> } | undefined;
  answered: number | 'hold';
  receivedAt: number;
}

/** Decides the answer to each request: a status, or `hold` to never answer. */
export type ReceiverPlan = (request: { id: string; nth: number }) => number | 'hold';

/** A webhook receiver verifying every request with `standardwebhooks`; dedupes by webhook-id like a real one. */
export interface WebhookReceiver extends TestServer {
  received: ReceivedWebhook[];
  /** Verified events by webhook-id, first delivery wins (what a deduplicating receiver would keep). */
  unique(): Map<string, ReceivedWebhook>;
  /** Resolves when `predicate` holds for the received list. */
  waitFor(predicate: (received: ReceivedWebhook[]) => boolean, timeoutMs?: number): Promise<void>;
}

/** Starts a receiver checking signatures with `secret`. */
export async function startWebhookReceiver(
  secret: string,
  plan: ReceiverPlan = () => 200,
): Promise<WebhookReceiver> {
  const verifier = new Webhook(secret);
  const received: ReceivedWebhook[] = [];
  const waiters = new Set<() => void>();
  const held: http.ServerResponse[] = [];
  const server = await startHttpServer(async (req, res) => {
    const text = await readBody(req);
    const id = String(req.headers['webhook-id'] ?? '');
    let body: ReceivedWebhook['body'];
    let verified = false;
    try {
      body = verifier.verify(text, req.headers as Record<string, string>) as ReceivedWebhook['body'];
      verified = true;
    } catch {
      body = undefined;
    }
    const nth = received.filter(entry => entry.id === id).length + 1;
    const answer = verified ? plan({ id, nth }) : 401;
    received.push({ id, verified, body, answered: answer, receivedAt: Date.now() });
    for (const waiter of waiters) waiter();
    if (answer === 'hold') {
      held.push(res);
      return;
    }
    res.statusCode = answer;
    res.end(answer < 300 ? 'ok' : 'no');
  });
  return {
    ...server,
    received,
    unique() {
      const map = new Map<string, ReceivedWebhook>();
      for (const entry of received) if (entry.verified && !map.has(entry.id)) map.set(entry.id, entry);
      return map;
    },
    waitFor(predicate, timeoutMs = 20_000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!predicate(received)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `webhook receiver: condition not met in ${timeoutMs} ms; got ${JSON.stringify(received)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      for (const res of held) res.destroy();
      await server.close();
    },
  };
}
