import { InvalidInputError } from '../core/errors.js';
import { describeType } from '../core/validate.js';
import { checkUrl, UrlRefusedError, type UrlGuardOptions } from '../net/url-guard.js';

/** The job-data field holding per-job presigned PUT URLs. */
export const UPLOAD_URLS_FIELD = 'upload_urls';

/** Most upload URLs one job may bring (a typo guard far above real jobs). */
export const MAX_UPLOAD_URLS = 1000;

/** Checks an `upload_urls` value; errors name the field and the entry. */
export function parseUploadUrls(value: unknown, guard: UrlGuardOptions): string[] {
  if (!Array.isArray(value)) {
    throw new InvalidInputError(
      `field "${UPLOAD_URLS_FIELD}" must be a list of presigned http(s) PUT URLs, got ${describeType(value)}`,
    );
  }
  if (value.length > MAX_UPLOAD_URLS) {
    throw new InvalidInputError(
      `field "${UPLOAD_URLS_FIELD}" has ${value.length} URLs, more than the ${MAX_UPLOAD_URLS} allowed`,
    );
  }
  return value.map((entry, index) => {
    const where = `field "${UPLOAD_URLS_FIELD}" entry ${index}`;
    if (typeof entry !== 'string') {
      throw new InvalidInputError(`${where} must be an http(s) URL string, got ${describeType(entry)}`);
    }
    try {
      return checkUrl(entry, guard).href;
    } catch (error) {
      if (error instanceof UrlRefusedError) throw new InvalidInputError(`${where}: ${error.message}`);
      throw error;
    }
  });
}
