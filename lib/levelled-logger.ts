import type { ElectorLogger } from './elector/internal.js';
import type { LeaderElectionLogLevel } from './interfaces/leader-election-module-options.interface.js';
import { LOG_LEVELS } from './leader-election-options.validator.js';

/** A Nest-compatible sink: `Logger` from @nestjs/common fits. */
export interface LevelledLogger {
  debug(message: string): void;
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Filters `logger` to `level` and above. */
export function levelled(logger: LevelledLogger, level: LeaderElectionLogLevel = 'log'): ElectorLogger {
  const rank = LOG_LEVELS.indexOf(level);
  const allow = (candidate: LeaderElectionLogLevel) => LOG_LEVELS.indexOf(candidate) >= rank;
  return {
    debug: (message) => allow('debug') && logger.debug(message),
    log: (message) => allow('log') && logger.log(message),
    warn: (message) => allow('warn') && logger.warn(message),
    error: (message) => allow('error') && logger.error(message),
  } as ElectorLogger;
}
