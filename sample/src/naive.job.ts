import { Injectable } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { LeaderElectionService, OnlyWhenLeader } from 'nestjs-lease-election';
import { TelemetryService } from './telemetry.service.js';

/**
 * What not to do: leader-only work that ignores its term's signal. The chaos
 * harness enables it (NAIVE_WORK_MS) to measure how long such work runs on
 * beside the next leader after a term is lost.
 */
@Injectable()
export class NaiveJob {
  constructor(
    private readonly election: LeaderElectionService,
    private readonly telemetry: TelemetryService,
  ) {}

  @OnlyWhenLeader()
  @Interval(Number(process.env.NAIVE_INTERVAL_MS ?? 1000))
  async run(): Promise<void> {
    const term = this.election.admittedTerm()!;
    this.telemetry.record('naive-begin', this.election.identity, { token: term.fencingToken });
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.NAIVE_WORK_MS)));
    this.telemetry.record('naive-end', this.election.identity, {
      token: term.fencingToken,
      aborted: term.signal.aborted,
    });
  }
}
