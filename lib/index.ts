export * from './elector/index.js';
