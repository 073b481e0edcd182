export * from './accounts.ts';
export * from './boot.ts';
export * from './errors.ts';
export * from './events.ts';
export type { Machine } from './machine.ts';
export * from './media-url.ts';
export * from './types.ts';
