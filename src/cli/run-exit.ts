/** Thrown by a command that finished but must exit with a non-zero code (a failed run, say). */
export class RunExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
