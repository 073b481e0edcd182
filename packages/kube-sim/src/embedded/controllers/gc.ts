/**
 * Garbage collector: deletes dependents whose owners are all gone (background), runs foreground
 * deletion (dependents first, then the owner) and orphaning. Namespace deletion cascades here too.
 *
 * It is driven by the store's events, as kube-controller-manager's is by its informers: each sweep
 * looks only at the objects an event concerned (one with owner references or a deletionTimestamp,
 * the dependents and owners of one deleted), found through an index of owner uid → dependents, so
 * a cluster of many objects written one request at a time is not swept whole each time.
 */
import type { Registry } from '../registry.ts';
import type { Obj, StoreEvent } from '../store.ts';
import type { Scheduler } from '../timing.ts';

export class GarbageCollector {
  private pending = false;
  private readonly unsubscribe: () => void;
  /** Uids of the objects the next sweep looks at. */
  private readonly dirty = new Set<string>();
  /** Owner uid → uids of the objects naming it in their ownerReferences. */
  private readonly dependents = new Map<string, Set<string>>();
  /** Deleting PersistentVolumeClaims that pods still use (looked at again when a pod goes). */
  private readonly heldClaims = new Set<string>();

  constructor(
    private readonly reg: Registry,
    private readonly sched: Scheduler,
  ) {
    for (const [, o] of reg.store.all()) {
      this.index(o);
      if (o.metadata.ownerReferences?.length || o.metadata.deletionTimestamp) this.mark(o.metadata.uid);
    }
    this.unsubscribe = reg.store.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.unsubscribe();
  }

  private index(o: Obj): void {
    const uid = o.metadata?.uid;
    if (!uid) return;
    for (const r of o.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(r.uid);
      if (!set) {
        set = new Set();
        this.dependents.set(r.uid, set);
      }
      set.add(uid);
    }
  }

  private unindex(o: Obj): void {
    const uid = o.metadata?.uid;
    if (!uid) return;
    for (const r of o.metadata.ownerReferences ?? []) {
      const set = this.dependents.get(r.uid);
      set?.delete(uid);
      if (set?.size === 0) this.dependents.delete(r.uid);
    }
  }

  private onEvent(e: StoreEvent): void {
    const md = e.obj.metadata ?? {};
    if (!md.uid) return;
    if (e.old) this.unindex(e.old);
    if (e.type === 'DELETED') {
      this.heldClaims.delete(md.uid);
      // dependents may have lost their last owner; an owner in foreground deletion may be free
      for (const d of this.dependents.get(md.uid) ?? []) this.mark(d);
      for (const r of md.ownerReferences ?? []) this.mark(r.uid);
      if (e.key === '/pods') for (const c of this.heldClaims) this.mark(c);
      return;
    }
    this.index(e.obj);
    if (md.ownerReferences?.length || md.deletionTimestamp) this.mark(md.uid);
    // references dropped (orphaning, a client's edit): an owner in foreground deletion may be free
    for (const r of e.old?.metadata?.ownerReferences ?? [])
      if (!(md.ownerReferences ?? []).some((n: Obj) => n.uid === r.uid)) this.mark(r.uid);
  }

  /** Looks at the object with this uid in the next sweep. */
  private mark(uid: string | undefined): void {
    if (!uid) return;
    this.dirty.add(uid);
    this.kick();
  }

  kick(): void {
    if (this.pending) return;
    this.pending = true;
    this.sched.soon(() => {
      this.pending = false;
      this.sweep();
    });
  }

  private typeOfKey(key: string) {
    const [group, plural] = key.split('/') as [string, string];
    return this.reg.lookupAnyVersion(group, plural);
  }

  private ownerAlive(dep: Obj, ref: Obj): boolean {
    const hit = this.reg.store.lookupUid(ref.uid);
    if (!hit) return false;
    if (hit.name !== ref.name) return false;
    if (hit.ns !== undefined && hit.ns !== dep.metadata.namespace) return false;
    return true;
  }

  private byUid(uid: string): [string, Obj] | undefined {
    const hit = this.reg.store.lookupUid(uid);
    const o = hit && this.reg.store.peek(hit.key, hit.ns, hit.name);
    return hit && o?.metadata.uid === uid ? [hit.key, o] : undefined;
  }

  private dependentsOf(uid: string): Array<[string, Obj]> {
    const out: Array<[string, Obj]> = [];
    for (const d of this.dependents.get(uid) ?? []) {
      const hit = this.byUid(d);
      if (hit) out.push(hit);
    }
    return out;
  }

  private del(key: string, o: Obj, policy: 'Background' | 'Foreground' = 'Background'): void {
    const t = this.typeOfKey(key);
    if (!t) return;
    try {
      this.reg.delete(t, o.metadata.namespace, o.metadata.name, {
        propagationPolicy: policy,
        preconditions: { uid: o.metadata.uid },
      });
    } catch {
      // raced with another delete
    }
  }

  private removeFinalizer(key: string, o: Obj, fin: string): void {
    const t = this.typeOfKey(key);
    if (!t) return;
    const cur = this.reg.tryGet(t, o.metadata.namespace, o.metadata.name);
    if (!cur || cur.metadata.uid !== o.metadata.uid) return;
    cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f: string) => f !== fin);
    try {
      this.reg.update(t, cur.metadata.namespace, cur.metadata.name, cur, { internal: true });
    } catch {
      this.mark(o.metadata.uid);
    }
  }

  /** The namespace controller's status conditions while content remains (as kube-controller-manager writes them). */
  private namespaceConditions(
    name: string,
    resources: Map<string, number>,
    finalizers: Map<string, number>,
  ): void {
    const t = this.typeOfKey('/namespaces');
    const cur = t && this.reg.tryGet(t, undefined, name);
    if (!t || !cur) return;
    const list = (m: Map<string, number>, fmt: (k: string, n: number) => string) =>
      [...m.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, n]) => fmt(k, n))
        .join(', ');
    const wanted: Array<[string, string, string, string]> = [
      [
        'NamespaceDeletionDiscoveryFailure',
        'False',
        'ResourcesDiscovered',
        'All resources successfully discovered',
      ],
      [
        'NamespaceDeletionGroupVersionParsingFailure',
        'False',
        'ParsedGroupVersions',
        'All legacy kube types successfully parsed',
      ],
      [
        'NamespaceDeletionContentFailure',
        'False',
        'ContentDeleted',
        'All content successfully deleted, may be waiting on finalization',
      ],
      resources.size
        ? [
            'NamespaceContentRemaining',
            'True',
            'SomeResourcesRemain',
            `Some resources are remaining: ${list(resources, (k, n) => `${k} has ${n} resource instances`)}`,
          ]
        : ['NamespaceContentRemaining', 'False', 'ContentRemoved', 'All content successfully removed'],
      finalizers.size
        ? [
            'NamespaceFinalizersRemaining',
            'True',
            'SomeFinalizersRemain',
            `Some content in the namespace has finalizers remaining: ${list(finalizers, (k, n) => `${k} in ${n} resource instances`)}`,
          ]
        : [
            'NamespaceFinalizersRemaining',
            'False',
            'ContentHasNoFinalizers',
            'All content-preserving finalizers finished',
          ],
    ];
    const before: Obj[] = cur.status?.conditions ?? [];
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const conditions = wanted.map(([type, status, reason, message]) => {
      const old = before.find((c) => c.type === type);
      const same = old && old.status === status;
      return { type, status, lastTransitionTime: same ? old.lastTransitionTime : now, reason, message };
    });
    if (JSON.stringify(conditions) === JSON.stringify(before)) return;
    cur.status = { ...(cur.status ?? {}), conditions };
    try {
      this.reg.update(t, undefined, name, cur, { subresource: 'status', internal: true });
    } catch {
      // raced; the next round writes them
    }
  }

  sweep(): void {
    const uids = [...this.dirty];
    this.dirty.clear();
    for (const uid of uids) {
      // earlier steps of this sweep may have changed or removed it
      const hit = this.byUid(uid);
      if (!hit) continue;
      const [key, o] = hit;
      const md = o.metadata;
      // 1. dependents whose owners are all absent
      const refs: Obj[] = md.ownerReferences ?? [];
      if (refs.length && !md.deletionTimestamp && refs.every((r) => !this.ownerAlive(o, r))) {
        this.del(key, o);
        continue;
      }
      if (!md.deletionTimestamp) continue;
      const fins: string[] = md.finalizers ?? [];
      // 2. foreground: delete dependents, wait for blocking ones, then drop the finalizer
      if (fins[0] === 'foregroundDeletion' || fins.includes('foregroundDeletion')) {
        const deps = this.dependentsOf(md.uid);
        for (const [dk, d] of deps) if (!d.metadata.deletionTimestamp) this.del(dk, d, 'Foreground');
        const blocking = deps.filter(([, d]) =>
          (d.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === md.uid && r.blockOwnerDeletion),
        );
        if (blocking.length === 0) this.removeFinalizer(key, o, 'foregroundDeletion');
      }
      // 3. orphan: strip the owner references, then drop the finalizer
      if (fins.includes('orphan')) {
        for (const [dk, d] of this.dependentsOf(md.uid)) {
          const t = this.typeOfKey(dk);
          if (!t) continue;
          const cur = this.reg.tryGet(t, d.metadata.namespace, d.metadata.name);
          if (!cur) continue;
          cur.metadata.ownerReferences = (cur.metadata.ownerReferences ?? []).filter(
            (r: Obj) => r.uid !== md.uid,
          );
          if (cur.metadata.ownerReferences.length === 0) delete cur.metadata.ownerReferences;
          try {
            this.reg.update(t, cur.metadata.namespace, cur.metadata.name, cur, { internal: true });
          } catch {
            this.mark(md.uid);
          }
        }
        this.removeFinalizer(key, o, 'orphan');
      }
      // 4. pvc-protection: a deleting claim that no pod mounts loses the finalizer
      if (key === '/persistentvolumeclaims' && fins.includes('kubernetes.io/pvc-protection')) {
        const used = this.reg.store
          .list('/pods', md.namespace)
          .some((p) =>
            (p.spec?.volumes ?? []).some((v: Obj) => v.persistentVolumeClaim?.claimName === md.name),
          );
        if (!used) {
          this.heldClaims.delete(md.uid);
          this.removeFinalizer(key, o, 'kubernetes.io/pvc-protection');
        } else {
          // looked at again when a pod goes
          this.heldClaims.add(md.uid);
        }
      }
      // 5. namespaces: delete the contents, then the namespace
      if (key === '/namespaces') {
        for (const [k2, o2] of [...this.reg.store.all()]) {
          if (o2.metadata.namespace === md.name && !o2.metadata.deletionTimestamp) this.del(k2, o2);
        }
        // what is left after this round: objects held by finalizers
        const resources = new Map<string, number>();
        const finalizers = new Map<string, number>();
        let left = 0;
        for (const [k2, o2] of this.reg.store.all()) {
          if (o2.metadata.namespace !== md.name) continue;
          left++;
          const [group, plural] = k2.split('/') as [string, string];
          const gr = `${plural}.${group}`;
          resources.set(gr, (resources.get(gr) ?? 0) + 1);
          for (const f of o2.metadata.finalizers ?? []) finalizers.set(f, (finalizers.get(f) ?? 0) + 1);
        }
        if (left === 0 && fins.length === 0) {
          const t = this.typeOfKey(key)!;
          this.reg.forceRemove(t, undefined, md.name);
        } else if (left > 0) {
          this.namespaceConditions(md.name, resources, finalizers);
          this.sched.after(50, () => this.mark(md.uid));
        }
      }
    }
  }
}
