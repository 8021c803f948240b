/** The SendGrid sandbox: a local SendGrid-compatible server for demos, tests and benchmarks. */
export { startSandbox, MAX_BODY_BYTES, type Sandbox, type SandboxStats } from './server.js';
export {
  DEFAULT_API_KEY,
  DEFAULT_SCOPES,
  parseRateLimit,
  type SandboxOptions,
  type RateLimit,
} from './options.js';
export { MAX_CONTACTS_PER_REQUEST } from './contacts.js';
