import { formatMicroTime } from '../../lib/elector/internal.js';
import type { LeaseStore, StoredVersion } from './lease-store.js';
import type { Scheduler, SimEvent } from './scheduler.js';
import type { Trace } from './trace.js';

/**
 * The kube-apiserver's coordinator of Coordinated Leader Election (KEP-4355),
 * in the server, so without network faults. It creates the Lease with
 * `strategy: OldestEmulationVersion`; when the Lease is empty or its claim
 * expired by the coordinator's own clock (leaseDuration after it last saw the
 * holder or renewTime change) it names the best live candidate (lowest
 * version, then identity); while a valid claim is held by a candidate of a
 * worse version, it names the best one in `preferredHolder`.
 */
export class Coordinator {
  assignments = 0;
  preemptions = 0;
  /** Called when `preferredHolder` starts naming `preferred` on `holder`'s claim. */
  onPreempt: (holder: string, preferred: string) => void = () => undefined;
  /** Identity -> version of each live candidate (its LeaseCandidate). */
  private readonly candidates = new Map<string, number>();
  private changeKey: string | null = null;
  private changeAt = 0;
  private pending: SimEvent | null = null;
  private expiry: SimEvent | null = null;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly store: LeaseStore,
    private readonly trace: Trace,
    private readonly leaseDuration: number,
    /** The coordinator acts this many ms after a change it sees. */
    private readonly reactMs: number,
  ) {
    store.subscribe((entry) => this.saw(entry));
  }

  join(identity: string, version: number): void {
    this.candidates.set(identity, version);
    this.poke();
  }

  /** The candidate leaves: at once (its LeaseCandidate is deleted on shutdown), or `after` ms (it goes stale). */
  leave(identity: string, after = 0): void {
    const remove = () => {
      if (this.candidates.delete(identity)) this.poke();
    };
    if (after > 0) this.scheduler.after(after, null, 'coordinator: candidate stale', remove);
    else remove();
  }

  private saw(entry: StoredVersion): void {
    const spec = entry.spec as Record<string, unknown> | null;
    // Its own preferredHolder edits do not extend a claim; the holder's writes (and anyone's renewTime) do.
    const key =
      spec === null
        ? null
        : JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime, spec.leaseDurationSeconds]);
    if (key !== this.changeKey) [this.changeKey, this.changeAt] = [key, this.scheduler.now];
    this.poke();
  }

  private poke(): void {
    if (this.pending !== null) return;
    this.pending = this.scheduler.after(this.reactMs, null, 'coordinator', () => {
      this.pending = null;
      this.reconcile();
    });
  }

  private best(): string | null {
    let best: [string, number] | null = null;
    for (const [identity, version] of this.candidates) {
      if (best === null || version < best[1] || (version === best[1] && identity < best[0])) best = [identity, version];
    }
    return best?.[0] ?? null;
  }

  private reconcile(): void {
    const now = this.scheduler.now;
    const best = this.best();
    const current = this.store.read();
    if (current === null) {
      if (best !== null) this.assign(null, best);
      return;
    }
    const spec = (current.spec ?? {}) as Record<string, unknown>;
    const holder = typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '';
    const seconds =
      typeof spec.leaseDurationSeconds === 'number' && spec.leaseDurationSeconds > 0
        ? spec.leaseDurationSeconds
        : this.leaseDuration / 1000;
    const expiresAt = this.changeAt + seconds * 1000;
    if (holder === '' || now >= expiresAt) {
      if (best !== null) this.assign(spec, best);
      return;
    }
    this.armExpiry(expiresAt);
    const holderVersion = this.candidates.get(holder);
    const preferred =
      best !== null && holderVersion !== undefined && this.candidates.get(best)! < holderVersion ? best : '';
    const named = typeof spec.preferredHolder === 'string' ? spec.preferredHolder : '';
    if (preferred === named) return;
    const next = { ...spec };
    if (preferred === '') delete next.preferredHolder;
    else next.preferredHolder = preferred;
    this.store.overwrite(next);
    this.trace.add('coord', `preferredHolder ${preferred === '' ? 'cleared' : `${preferred} (holder ${holder})`}`);
    if (preferred === '') return;
    this.preemptions++;
    this.onPreempt(holder, preferred);
  }

  /** A fresh claim for `holder`; the candidate's own acquire write then counts the transition. */
  private assign(spec: Record<string, unknown> | null, holder: string): void {
    const now = formatMicroTime(new Date(Date.UTC(2026, 0, 1) + this.scheduler.now));
    const record = {
      holderIdentity: holder,
      leaseDurationSeconds: this.leaseDuration / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: typeof spec?.leaseTransitions === 'number' ? spec.leaseTransitions : 0,
      strategy: 'OldestEmulationVersion',
    };
    if (spec === null) this.store.create(record);
    else this.store.overwrite(record);
    this.assignments++;
    this.trace.add('coord', `names ${holder} holder`);
  }

  private armExpiry(at: number): void {
    if (this.expiry !== null && !this.expiry.cancelled && this.expiry.at === at) return;
    if (this.expiry !== null) this.expiry.cancelled = true;
    this.expiry = this.scheduler.schedule(at, null, 'coordinator: expiry', () => {
      this.expiry = null;
      this.reconcile();
    });
  }
}
