/** Writes one JSON line per report on stdout, for the e2e test that launched the app to read. */
export class JsonLinesReporter<R extends { event: string }> {
  readonly identity: string;

  constructor(fallbackIdentity: string) {
    this.identity = process.env.IDENTITY ?? fallbackIdentity;
  }

  emit(report: R): void {
    // CLOCK_MONOTONIC, comparable across processes on one machine.
    const line = { ...report, identity: this.identity, at: process.hrtime.bigint().toString() };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}
