export { KubeVirtBackend, type KubeVirtBackendOptions } from './backend.ts';
export { KubeVirtMachine } from './machine.ts';
