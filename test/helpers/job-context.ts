import type { Media } from '../../src/media/media.js';
import {
  recordingContext,
  type RecordingContext,
  type RecordingContextOptions,
} from '../../src/testing/job-context.js';
import { testMedia } from './media.js';

// The recording context lives with the exported contract suite (src/testing) so connector
// authors get the same one; tests get it here with test media by default.
export type { RecordingContext };

/** A recording context; default media: no store, loopback URLs allowed. */
export function testContext(
  data: unknown,
  options: Omit<RecordingContextOptions, 'media'> & { media?: Media } = {},
): RecordingContext {
  return recordingContext(data, { ...options, media: options.media ?? testMedia() });
}
