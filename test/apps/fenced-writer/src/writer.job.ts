import { Injectable } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { LeaderElectionService, OnlyWhenLeader } from 'nestjs-lease-election';
import { FencedStore } from './fenced-store.js';
import { Reporter } from './reporter.js';

/** The leader-only work: a fenced write every WRITE_INTERVAL_MS. */
@Injectable()
export class WriterJob {
  private sequence = 0;

  constructor(
    private readonly election: LeaderElectionService,
    private readonly store: FencedStore,
    private readonly reporter: Reporter,
  ) {}

  @OnlyWhenLeader()
  @Interval(Number(process.env.WRITE_INTERVAL_MS ?? 100))
  async write(): Promise<void> {
    const term = this.election.term;
    if (!term) return;
    const token = term.fencingToken;
    const writer = `${this.reporter.identity}#${++this.sequence}`;
    try {
      const applied = await this.store.write(token, writer);
      this.reporter.emit({ event: 'write', token, writer, applied });
    } catch (error) {
      this.reporter.emit({ event: 'write-error', token, writer, message: (error as Error).message });
    }
  }
}
