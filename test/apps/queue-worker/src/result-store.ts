import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';

// Applies a job's result only while the highest fencing token seen for the queue
// is <= the writer's. Tokens are decimal strings compared exactly (length, then
// digits): they can exceed 2^53, past Lua's doubles.
const FENCED_SAVE = `
local highest = redis.call('GET', KEYS[1])
local token = ARGV[1]
if highest and (#highest > #token or (#highest == #token and highest > token)) then return 0 end
redis.call('SET', KEYS[1], token)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
`;

interface FencedRedis extends Redis {
  fencedSave(fenceKey: string, resultsKey: string, token: string, jobId: string, result: string): Promise<number>;
}

/** Where the leader's jobs store their results, fenced by the term's token. */
@Injectable()
export class ResultStore implements OnApplicationShutdown {
  private readonly redis: FencedRedis;
  private readonly queue = process.env.QUEUE ?? 'jobs';

  constructor() {
    this.redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true }) as FencedRedis;
    this.redis.defineCommand('fencedSave', { numberOfKeys: 2, lua: FENCED_SAVE });
  }

  /** False when the store rejected the result as stale. */
  async save(jobId: string, token: string, result: string): Promise<boolean> {
    const applied = await this.redis.fencedSave(`${this.queue}:fence`, `${this.queue}:results`, token, jobId, result);
    return applied === 1;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }
}
