import { posix } from 'node:path';

/** Rounds of percent-decoding before a path counts as hostile (`%252e` is two rounds). */
const MAX_DECODE_ROUNDS = 3;

/**
 * The one rule for a path below a service's base URL, whoever wrote it (a setting, job
 * data, a service's job id): percent-decoded before it is checked (`%2e%2e` is `..` to
 * the URL parser and to most servers), no scheme, no `//host`, no backslash or control
 * character, no `..` segment, and once resolved it stays under `under` (a path such as
 * `/sdapi/v1/`, relative to the base URL). Returns why the path is refused, or
 * `undefined` when it is safe. The query string is the service's business and not checked.
 */
export function servicePathProblem(path: string, under = '/'): string | undefined {
  if (path.trim() === '') return 'it is empty';
  const end = path.search(/[?#]/);
  let decoded = end === -1 ? path : path.slice(0, end);
  for (let round = 0; ; round++) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      return 'it has malformed percent-encoding';
    }
    if (next === decoded) break;
    if (round === MAX_DECODE_ROUNDS) return 'it is percent-encoded several times over';
    decoded = next;
  }
  return decodedPathProblem(decoded, under);
}

/**
 * {@link servicePathProblem} for a value that is already decoded (a query parameter such
 * as ComfyUI's `/view?subfolder=`, which the server decodes exactly once).
 */
export function decodedPathProblem(decoded: string, under = '/'): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(decoded) || decoded.startsWith('//')) {
    return 'it is a URL, not a path below the base URL';
  }
  if (/[\\\u0000-\u001f\u007f]/.test(decoded)) return 'it has a backslash or a control character';
  if (decoded.split('/').includes('..')) return 'it has a ".." segment';
  const resolved = posix.normalize(`/${decoded.replace(/^\/+/, '')}`);
  const root = under.endsWith('/') ? under : `${under}/`;
  if (!`${resolved}/`.startsWith(root)) return `it leaves ${root}`;
  return undefined;
}

/** True for `/a/b?x=1` style paths that pass {@link servicePathProblem}. */
export function isSafeRelativePath(path: string): boolean {
  return servicePathProblem(path) === undefined;
}
