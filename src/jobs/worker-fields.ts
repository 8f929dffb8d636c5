import { isPlainObject, withoutKeys } from '../core/validate.js';
import { UPLOAD_URLS_FIELD, parseUploadUrls } from '../media/upload-urls.js';
import type { UrlGuardOptions } from '../net/url-guard.js';
import { WEBHOOK_FIELD } from '../webhooks/job-webhook.js';

/** Job-data fields that are the worker's, not the service's: no connector ever sees them. */
export const WORKER_FIELDS: readonly string[] = [UPLOAD_URLS_FIELD, WEBHOOK_FIELD];

/**
 * Splits job data into what the connector sees (the data without the worker's fields) and
 * the job's checked upload URLs. Data without those fields (most jobs) is returned as it is;
 * otherwise it is copied once. A bad `upload_urls` throws here, before any work.
 */
export function takeWorkerFields(
  data: unknown,
  guard: UrlGuardOptions,
): { data: unknown; uploadUrls: string[] | undefined } {
  if (!isPlainObject(data) || !WORKER_FIELDS.some(field => Object.hasOwn(data, field))) {
    return { data, uploadUrls: undefined };
  }
  const uploadUrls = Object.hasOwn(data, UPLOAD_URLS_FIELD)
    ? parseUploadUrls(data[UPLOAD_URLS_FIELD], guard)
    : undefined;
  return { data: withoutKeys(data, WORKER_FIELDS), uploadUrls };
}
