// The recording context lives with the exported contract suite (src/testing) so connector
// authors get the same one; tests import it from here.
export { testContext, type RecordingContext } from '../../src/testing/job-context.js';
