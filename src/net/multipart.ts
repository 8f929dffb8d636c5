import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/** The file part of a multipart form. */
export interface MultipartFile {
  field: string;
  filename: string;
  mime: string;
  body: Buffer | Readable;
}

/** A multipart/form-data body streamed part by part (the file is never held whole). */
export interface MultipartBody {
  contentType: string;
  body: Readable;
  /** Total length when the file's size is known (a buffer or a known-length stream). */
  length?: number;
}

/**
 * Builds a `multipart/form-data` body of plain fields and one file. Field names, values
 * and the file name are the caller's (already checked: no quotes or line breaks).
 */
export function multipartBody(
  fields: ReadonlyArray<readonly [string, string]>,
  file: MultipartFile,
  fileSize?: number,
): MultipartBody {
  const boundary = `----emp-worker-${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    fields
      .map(
        ([name, value]) =>
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
      )
      .join('') +
      `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.filename}"\r\n` +
      `Content-Type: ${file.mime}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const size = Buffer.isBuffer(file.body) ? file.body.length : fileSize;
  async function* parts(): AsyncGenerator<Buffer> {
    yield head;
    if (Buffer.isBuffer(file.body)) yield file.body;
    else for await (const chunk of file.body) yield chunk as Buffer;
    yield tail;
  }
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Readable.from(parts(), { objectMode: false }),
    ...(size !== undefined ? { length: head.length + size + tail.length } : {}),
  };
}
