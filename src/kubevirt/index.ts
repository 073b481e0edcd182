export { KubeVirtBackend, type KubeVirtBackendOptions } from './backend.ts';
export {
  type MacStore,
  parseRememberedMacs,
  type RememberedMacs,
  serialiseRememberedMacs,
} from './mac-memory.ts';
export { KubeVirtMachine } from './machine.ts';
