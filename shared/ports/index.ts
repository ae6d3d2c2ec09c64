export type * from './stateStore.js';
export type * from './lake.js';
export type * from './bus.js';
export type * from './compute.js';
export type * from './clock.js';
export type * from './logStore.js';
export type * from './orchestrationClient.js';
export { terminalJobStates } from './compute.js';
export { systemClock } from './clock.js';
