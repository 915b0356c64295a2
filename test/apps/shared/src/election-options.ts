import type { LeaderElectionModuleOptions } from 'nestjs-lease-election';

/** The election every test app runs, from its environment: LEASE_NAME, IDENTITY and short timings by default. */
export function electionOptionsFromEnv(defaultLease: string): LeaderElectionModuleOptions {
  const env = process.env;
  return {
    leaseName: env.LEASE_NAME ?? defaultLease,
    namespace: env.LEASE_NAMESPACE ?? 'default',
    identity: env.IDENTITY,
    leaseDuration: Number(env.LEASE_DURATION ?? 2000),
    renewDeadline: Number(env.RENEW_DEADLINE ?? 1000),
    retryPeriod: Number(env.RETRY_PERIOD ?? 250),
    logLevel: 'warn',
    metrics: false,
  };
}
