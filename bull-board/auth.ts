import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

/** The one user allowed into the board. */
export interface BoardCredentials {
  username: string;
  password: string;
}

/** A password for a board started without BULL_BOARD_PASSWORD (24 URL-safe characters, 144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * Compares two strings in time independent of where they differ. Both sides are hashed
 * first so inputs of different lengths compare in constant time too (timingSafeEqual
 * itself refuses unequal lengths, which would leak the length).
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a, 'utf8').digest();
  const digestB = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(digestA, digestB);
}

/** Reads `Authorization: Basic base64(user:password)`; undefined when absent or malformed. */
export function parseBasicAuth(header: string | undefined): BoardCredentials | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Express middleware: lets a request through only with the board's user and password
 * (HTTP Basic), otherwise answers 401 with a `WWW-Authenticate` challenge so browsers
 * ask for them. Both fields are always compared, so timing says nothing about which was wrong.
 */
export function basicAuth(expected: BoardCredentials, realm = 'Bull Board'): RequestHandler {
  return (req, res, next) => {
    const given = parseBasicAuth(req.headers.authorization);
    const userOk = constantTimeEqual(given?.username ?? '', expected.username);
    const passwordOk = constantTimeEqual(given?.password ?? '', expected.password);
    if (given && userOk && passwordOk) {
      next();
      return;
    }
    res
      .status(401)
      .set('WWW-Authenticate', `Basic realm="${realm}", charset="UTF-8"`)
      .set('Cache-Control', 'no-store')
      .json({
        error: 'authentication required: use the BULL_BOARD_USERNAME and BULL_BOARD_PASSWORD credentials',
      });
  };
}
