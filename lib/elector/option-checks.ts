import { InvalidLeaderElectionOptionError } from './elector-options.js';

/** `options[field]`, or `fallback` when absent; throws naming the field unless it is a positive number. */
export function positiveMillis<T extends object>(options: T, field: keyof T & string, fallback: number): number {
  const value = options[field] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidLeaderElectionOptionError(
      field,
      `must be a positive number of milliseconds, got ${String(value)}.`,
    );
  }
  return value;
}
