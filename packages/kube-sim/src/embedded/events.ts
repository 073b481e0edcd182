/** Core v1 Events written by the simulated components (bounded: the oldest are dropped, as the TTL would). */
import { randomBytes } from 'node:crypto';
import type { Registry } from './registry.ts';
import type { Obj } from './store.ts';

const MAX_EVENTS = 2000;

export class EventRecorder {
  private readonly names: Array<[string, string]> = [];

  constructor(private readonly reg: Registry) {}

  record(
    involved: Obj,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
  ): void {
    const ns = involved.metadata?.namespace ?? 'default';
    const t = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const name = `${involved.metadata?.name}.${randomBytes(8).toString('hex')}`;
    try {
      this.reg.create(
        this.reg.type('', 'events'),
        ns,
        {
          metadata: { name, namespace: ns },
          involvedObject: {
            kind: involved.kind,
            namespace: involved.metadata?.namespace,
            name: involved.metadata?.name,
            uid: involved.metadata?.uid,
            apiVersion: involved.apiVersion,
            resourceVersion: involved.metadata?.resourceVersion,
          },
          reason,
          message,
          source: { component, host: 'sim-node-1' },
          firstTimestamp: t,
          lastTimestamp: t,
          count: 1,
          type,
          reportingComponent: component,
          reportingInstance: 'sim-node-1',
        },
        { internal: true },
      );
    } catch {
      return; // namespace terminating or gone
    }
    this.names.push([ns, name]);
    while (this.names.length > MAX_EVENTS) {
      const [ons, oname] = this.names.shift()!;
      this.reg.forceRemove(this.reg.type('', 'events'), ons, oname);
    }
  }
}
