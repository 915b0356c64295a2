import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';

/**
 * The store the leader writes to. Every write carries the writer's fencing
 * token and applies only while the highest token the store has seen for the
 * resource is `<=` it. Tokens stay decimal strings and SQL `numeric`: they can
 * exceed 2^53.
 */
@Injectable()
export class FencedStore implements OnApplicationShutdown {
  private readonly pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  private readonly resource = process.env.RESOURCE ?? 'fenced-writer';

  constructor() {
    // An idle client whose server goes away must not crash the process.
    this.pool.on('error', () => undefined);
  }

  /**
   * One statement, so no row lock is held between round trips: a process frozen
   * mid-write cannot block the next leader. Returns false when PostgreSQL
   * rejected the write as stale (the fence upsert touched no row).
   */
  async write(fencingToken: string, writer: string): Promise<boolean> {
    const result = await this.pool.query(
      `WITH fence AS (
         INSERT INTO fence AS f (resource, fencing_token) VALUES ($1, $2::numeric)
         ON CONFLICT (resource) DO UPDATE SET fencing_token = EXCLUDED.fencing_token
           WHERE f.fencing_token <= EXCLUDED.fencing_token
         RETURNING fencing_token
       ), document AS (
         INSERT INTO documents AS d (resource, body, fencing_token)
           SELECT $1, $3, fencing_token FROM fence
         ON CONFLICT (resource) DO UPDATE SET body = EXCLUDED.body, fencing_token = EXCLUDED.fencing_token
       )
       INSERT INTO entries (resource, writer, fencing_token) SELECT $1, $3, fencing_token FROM fence`,
      [this.resource, fencingToken, writer],
    );
    return result.rowCount === 1;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
