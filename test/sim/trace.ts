/** The last lines of what happened, printed when an invariant fails. */
export class Trace {
  private readonly lines: string[] = [];

  constructor(
    private readonly now: () => number,
    private readonly keep = 250,
  ) {}

  add(who: string, message: string): void {
    this.lines.push(`t=${this.now().toFixed(3).padStart(12)} ${who.padEnd(8)} ${message}`);
    if (this.lines.length > this.keep * 2) this.lines.splice(0, this.lines.length - this.keep);
  }

  tail(count = this.keep): string {
    return this.lines.slice(-count).join('\n');
  }
}
