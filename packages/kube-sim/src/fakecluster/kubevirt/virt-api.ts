/**
 * virt-api's `subresources.kubevirt.io` (v1 and v1alpha3): discovery, VM start/stop/restart,
 * add/removevolume and expand-spec, VMI pause/unpause/softreboot/reset/guestosinfo, and the serial console
 * websocket (subprotocol `plain.kubevirt.io`, raw bytes in binary frames). Status codes and
 * refusal messages follow KubeVirt's pkg/virt-api/rest (kube-api-notes C5).
 *
 * The serial console is exclusive and live, as virt-handler's (pkg/virt-handler/rest/console.go,
 * `SerialHandler` and `newStopChan`, v1.9.0): a new connection to a VMI's console drops the one
 * already there, without a close frame (the client sees 1006, abnormal closure), and a new
 * connection gets only what the guest prints from then on: nothing printed before is replayed.
 *
 * It knows nothing of how the request arrived or who sent it: `handle(req, res)` and
 * `upgrade(req, socket, head)` take a plain Node request (the fake virt-api's HTTPS server calls
 * them after authenticating the aggregator; an embedded server could mount them as they are), and
 * every read and write goes through a `VirtApiBackend` (the fake KubeVirt's: our Kubernetes client).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { ApiError, badRequest, conflict, internalError, notFound } from '../../embedded/errors.ts';
import { readBody } from '../http-body.ts';
import type { GuestState } from './guests.ts';
import { isFinal, isPaused, type Obj, runStrategyOf } from './logic.ts';

export const SUBRESOURCE_GROUP = 'subresources.kubevirt.io';
export const SUBRESOURCE_VERSIONS = ['v1', 'v1alpha3'] as const;
const GROUP = 'kubevirt.io';

/** The resources virt-api lists in its discovery document (name and namespaced only, as KubeVirt does). */
export const SUBRESOURCE_NAMES = [
  'virtualmachineinstances/vnc',
  'virtualmachineinstances/console',
  'virtualmachineinstances/portforward',
  'virtualmachineinstances/pause',
  'virtualmachineinstances/unpause',
  'virtualmachineinstances/freeze',
  'virtualmachineinstances/unfreeze',
  'virtualmachineinstances/softreboot',
  'virtualmachineinstances/reset',
  'virtualmachines/start',
  'virtualmachines/stop',
  'virtualmachines/restart',
  'virtualmachines/migrate',
  'virtualmachines/expand-spec',
  'virtualmachineinstances/guestosinfo',
  'virtualmachineinstances/userlist',
  'virtualmachineinstances/filesystemlist',
  'virtualmachineinstances/addvolume',
  'virtualmachineinstances/removevolume',
  'virtualmachines/addvolume',
  'virtualmachines/removevolume',
];

/** Everything virt-api reads and writes, and the guests virt-handler runs. */
export interface VirtApiBackend {
  getVm(namespace: string, name: string): Promise<Obj | undefined>;
  getVmi(namespace: string, name: string): Promise<Obj | undefined>;
  /** A JSON patch (`json`) or merge patch of the VM or VMI, or of its `/status`; rejects with ApiError. */
  patch(
    kind: 'vm' | 'vmi',
    namespace: string,
    name: string,
    type: 'json' | 'merge',
    body: unknown,
    status?: boolean,
  ): Promise<void>;
  /** PUT of the VM (guarded by its resourceVersion); rejects with ApiError. */
  updateVm(vm: Obj): Promise<void>;
  setPaused(vmi: Obj, paused: boolean): Promise<void>;
  reboot(vmi: Obj, kind: 'soft' | 'reset'): void;
  guest(vmi: Obj): GuestState;
  /** Calls `fn` once when the VMI with this uid is final or gone; returns an unsubscribe. */
  onVmiEnd(namespace: string, uid: string, fn: () => void): () => void;
  /** The VM with its instance type and preference applied to its template; rejects with ApiError. */
  expandVm(vm: Obj): Promise<Obj>;
}

function vmConflict(name: string, msg: string): ApiError {
  return conflict(GROUP, 'virtualmachine', name, msg);
}
function vmiConflict(name: string, msg: string): ApiError {
  return conflict(GROUP, 'virtualmachineinstance', name, msg);
}
function pageNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

function parseOptions(body: Buffer): Obj {
  if (body.length === 0) return {};
  try {
    const v = JSON.parse(body.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('expected a JSON object');
    return v;
  } catch (e) {
    throw badRequest(`Can not unmarshal Request body to struct, error: ${(e as Error).message}`);
  }
}

function dryRun(opts: Obj): boolean {
  return Array.isArray(opts.dryRun) && opts.dryRun.includes('All');
}

/** A parsed `/apis/subresources.kubevirt.io/...` path. */
export interface SubresourcePath {
  version?: string;
  namespace?: string;
  resource?: string;
  name?: string;
  subresource?: string;
}

export function parseSubresourcePath(pathname: string): SubresourcePath | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'apis' || parts[1] !== SUBRESOURCE_GROUP) return undefined;
  const out: SubresourcePath = {};
  if (parts[2] !== undefined) out.version = parts[2];
  if (parts[3] === 'namespaces' && parts.length >= 5) {
    out.namespace = parts[4];
    if (parts[5] !== undefined) out.resource = parts[5];
    if (parts[6] !== undefined) out.name = parts[6];
    if (parts[7] !== undefined) out.subresource = parts.slice(7).join('/');
  } else if (parts.length > 3) return { ...out, resource: '' };
  return out;
}

export interface Reply {
  status: number;
  body?: unknown;
}

function writeReply(res: ServerResponse, r: Reply): void {
  if (r.body === undefined) {
    res.writeHead(r.status, { 'Content-Length': 0 });
    res.end();
    return;
  }
  const text = JSON.stringify(r.body);
  res.writeHead(r.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function failure(e: unknown): Reply {
  const err = e instanceof ApiError ? e : internalError(String((e as Error)?.message ?? e));
  return { status: err.code, body: err.status };
}

export class VirtApi {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('plain.kubevirt.io') ? 'plain.kubevirt.io' : false),
  });

  /** VMI uid → the console connection holding its serial port (one at a time, as virt-handler). */
  private readonly consoles = new Map<string, WebSocket>();

  constructor(private readonly backend: VirtApiBackend) {}

  close(): void {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }

  // ---------------------------------------------------------------- discovery

  discovery(path: string): Reply | undefined {
    const p = path.replace(/\/+$/, '');
    const versions = SUBRESOURCE_VERSIONS.map((v) => ({
      groupVersion: `${SUBRESOURCE_GROUP}/${v}`,
      version: v,
    }));
    const group = { name: SUBRESOURCE_GROUP, versions, preferredVersion: versions[0] };
    if (p === '/apis')
      return { status: 200, body: { kind: 'APIGroupList', apiVersion: 'v1', groups: [group] } };
    if (p === `/apis/${SUBRESOURCE_GROUP}`)
      return { status: 200, body: { kind: 'APIGroup', apiVersion: 'v1', ...group } };
    for (const v of SUBRESOURCE_VERSIONS) {
      if (p === `/apis/${SUBRESOURCE_GROUP}/${v}`) {
        return {
          status: 200,
          body: {
            kind: 'APIResourceList',
            apiVersion: 'v1',
            groupVersion: `${SUBRESOURCE_GROUP}/${v}`,
            resources: SUBRESOURCE_NAMES.map((name) => ({
              name,
              singularName: '',
              namespaced: true,
              kind: '',
              verbs: null,
            })),
          },
        };
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- reads

  private async vm(ns: string, name: string): Promise<Obj> {
    const vm = await this.backend.getVm(ns, name);
    if (!vm) throw notFound(GROUP, 'virtualmachine', name);
    return vm;
  }

  private async vmi(ns: string, name: string): Promise<Obj> {
    const vmi = await this.backend.getVmi(ns, name);
    if (!vmi) throw notFound(GROUP, 'virtualmachineinstance', name);
    return vmi;
  }

  private async runningVmi(ns: string, name: string, notRunning: string): Promise<Obj> {
    const vmi = await this.vmi(ns, name);
    if (vmi.status?.phase !== 'Running' || vmi.metadata.deletionTimestamp)
      throw vmiConflict(name, notRunning);
    return vmi;
  }

  // ---------------------------------------------------------------- writes

  /** A JSON patch of the VM; a failed `test` maps as KubeVirt maps it (409 only for a missing path). */
  private async patchVm(ns: string, name: string, ops: Obj[], status: boolean): Promise<void> {
    try {
      await this.backend.patch('vm', ns, name, 'json', ops, status);
    } catch (e) {
      if (e instanceof ApiError && e.code === 422) {
        if (/jsonpatch test operation does not apply/.test(e.message)) throw vmConflict(name, e.message);
        throw internalError(e.message);
      }
      throw e;
    }
  }

  private async changeRequests(vm: Obj, requests: Obj[]): Promise<void> {
    if (vm.status?.stateChangeRequests?.length)
      throw internalError('unable to complete request: stop/start already underway');
    if (vm.status === undefined) {
      await this.backend.patch(
        'vm',
        vm.metadata.namespace,
        vm.metadata.name,
        'merge',
        { status: { stateChangeRequests: requests } },
        true,
      );
      return;
    }
    await this.patchVm(
      vm.metadata.namespace,
      vm.metadata.name,
      [{ op: 'add', path: '/status/stateChangeRequests', value: requests }],
      true,
    );
  }

  private async stopRequest(vm: Obj, vmi: Obj): Promise<void> {
    await this.backend.patch(
      'vm',
      vm.metadata.namespace,
      vm.metadata.name,
      'merge',
      { status: { stateChangeRequests: [{ action: 'Stop', uid: vmi.metadata.uid }] } },
      true,
    );
  }

  private async setVmiGrace(vmi: Obj, seconds: number): Promise<void> {
    const cur = vmi.spec?.terminationGracePeriodSeconds;
    const ops =
      cur === undefined
        ? [{ op: 'add', path: '/spec/terminationGracePeriodSeconds', value: seconds }]
        : [
            { op: 'test', path: '/spec/terminationGracePeriodSeconds', value: cur },
            { op: 'replace', path: '/spec/terminationGracePeriodSeconds', value: seconds },
          ];
    await this.backend.patch('vmi', vmi.metadata.namespace, vmi.metadata.name, 'json', ops);
  }

  private async setRunStrategy(vm: Obj, strategy: 'Always' | 'Halted'): Promise<void> {
    const ns = vm.metadata.namespace;
    const name = vm.metadata.name;
    if (vm.spec?.running !== undefined) {
      await this.patchVm(
        ns,
        name,
        [
          { op: 'test', path: '/spec/running', value: vm.spec.running },
          { op: 'replace', path: '/spec/running', value: strategy === 'Always' },
        ],
        false,
      );
    } else if (vm.spec?.runStrategy !== undefined) {
      await this.patchVm(
        ns,
        name,
        [
          { op: 'test', path: '/spec/runStrategy', value: vm.spec.runStrategy },
          { op: 'replace', path: '/spec/runStrategy', value: strategy },
        ],
        false,
      );
    } else {
      await this.patchVm(ns, name, [{ op: 'add', path: '/spec/runStrategy', value: strategy }], false);
    }
  }

  // ---------------------------------------------------------------- VM lifecycle

  async start(ns: string, name: string, opts: Obj): Promise<void> {
    const vm = await this.vm(ns, name);
    if (
      (vm.status?.conditions ?? []).some(
        (c: Obj) => c.type === 'ManualRecoveryRequired' && c.status === 'True',
      )
    ) {
      throw vmConflict(name, 'VM is in a state that requires manual recovery');
    }
    const vmi = await this.backend.getVmi(ns, name);
    const phase = vmi?.status?.phase ?? '';
    if (vmi && !isFinal(vmi) && phase !== '' && phase !== 'Unknown')
      throw vmConflict(name, 'VM is already running');
    const strategy = runStrategyOf(vm);
    const dry = dryRun(opts);
    switch (strategy) {
      case 'Halted':
        if (dry) return;
        if (opts.paused === true)
          await this.changeRequests(vm, [{ action: 'Start', data: { paused: 'true' } }]);
        else await this.setRunStrategy(vm, 'Always');
        return;
      case 'Manual':
      case 'RerunOnFailure': {
        if (strategy === 'RerunOnFailure' && vmi?.status?.phase === 'Failed') {
          throw vmConflict(name, 'RerunOnFailure does not support starting VM from failed state');
        }
        const start: Obj =
          opts.paused === true ? { action: 'Start', data: { paused: 'true' } } : { action: 'Start' };
        const reqs = vmi && isFinal(vmi) ? [{ action: 'Stop', uid: vmi.metadata.uid }, start] : [start];
        if (dry) return;
        await this.changeRequests(vm, reqs);
        return;
      }
      default:
        throw vmConflict(name, `${strategy} does not support manual start requests`);
    }
  }

  async stop(ns: string, name: string, opts: Obj): Promise<void> {
    const vm = await this.vm(ns, name);
    const vmi = await this.backend.getVmi(ns, name);
    const strategy = runStrategyOf(vm);
    const grace: number | undefined = typeof opts.gracePeriod === 'number' ? opts.gracePeriod : undefined;
    const live = !!vmi && !isFinal(vmi);
    const dry = dryRun(opts);
    switch (strategy) {
      case 'Halted': {
        if (!live) throw vmConflict(name, 'VM is not running');
        const current = vmi!.spec?.terminationGracePeriodSeconds ?? 180;
        if (grace === undefined || grace >= current)
          throw vmConflict(name, 'Halted only supports manual stop requests with a shorter graceperiod');
        if (dry) return;
        await this.setVmiGrace(vmi!, grace);
        await this.stopRequest(vm, vmi!);
        return;
      }
      case 'Manual':
      case 'RerunOnFailure':
        if (!live) throw vmConflict(name, 'VM is not running');
        if (dry) return;
        if (grace !== undefined) await this.setVmiGrace(vmi!, grace);
        await this.stopRequest(vm, vmi!);
        return;
      default:
        if (dry) return;
        if (grace !== undefined && live && !vmi!.metadata.deletionTimestamp)
          await this.setVmiGrace(vmi!, grace);
        await this.setRunStrategy(vm, 'Halted');
    }
  }

  async restart(ns: string, name: string, opts: Obj): Promise<void> {
    const g = opts.gracePeriodSeconds;
    if (g !== undefined && g !== null) {
      if (typeof g !== 'number' || g > 0)
        throw badRequest('For force restart, only gracePeriod=0 is supported for now');
      if (g < 0) throw badRequest('gracePeriodSeconds must be greater than or equal to 0');
    }
    const vm = await this.vm(ns, name);
    const strategy = runStrategyOf(vm);
    if (strategy === 'Halted' || strategy === 'Once')
      throw vmConflict(name, `RunStategy ${strategy} does not support manual restart requests`);
    if ((vm.status?.conditions ?? []).some((c: Obj) => c.type === 'VolumesChange' && c.status === 'True')) {
      throw vmConflict(name, 'VM has volume changes in progress');
    }
    const vmi = await this.backend.getVmi(ns, name);
    if (!vmi) throw vmConflict(name, 'VM is not running: Halted');
    if (dryRun(opts)) return;
    if (g === 0 && !vmi.metadata.deletionTimestamp) await this.setVmiGrace(vmi, 1);
    await this.changeRequests(vm, [{ action: 'Stop', uid: vmi.metadata.uid }, { action: 'Start' }]);
  }

  private async addVolume(ns: string, name: string, opts: Obj): Promise<void> {
    const vm = await this.vm(ns, name);
    if (!opts.name) throw badRequest('AddVolumeOptions requires name to be set');
    if (!opts.disk) throw badRequest('AddVolumeOptions requires disk to not be nil');
    const src = opts.volumeSource;
    if (!src || (!src.dataVolume && !src.persistentVolumeClaim))
      throw badRequest('AddVolumeOptions requires a VolumeSource to be set');
    const next = structuredClone(vm);
    const spec = next.spec.template.spec;
    spec.volumes ??= [];
    spec.domain.devices ??= {};
    spec.domain.devices.disks ??= [];
    if (spec.volumes.some((v: Obj) => v.name === opts.name))
      throw vmConflict(
        name,
        `Unable to add volume [${opts.name}] because volume with that name already exists`,
      );
    const volume: Obj = { name: opts.name };
    if (src.dataVolume) volume.dataVolume = { ...src.dataVolume, hotpluggable: true };
    else volume.persistentVolumeClaim = { ...src.persistentVolumeClaim, hotpluggable: true };
    spec.volumes.push(volume);
    if (!spec.domain.devices.disks.some((d: Obj) => d.name === opts.name))
      spec.domain.devices.disks.push({ ...opts.disk, name: opts.name });
    if (dryRun(opts)) return;
    await this.backend.updateVm(next);
  }

  private async removeVolume(ns: string, name: string, opts: Obj): Promise<void> {
    const vm = await this.vm(ns, name);
    if (!opts.name) throw badRequest('RemoveVolumeOptions requires name to be set');
    const next = structuredClone(vm);
    const spec = next.spec.template.spec;
    const vol = (spec.volumes ?? []).find((v: Obj) => v.name === opts.name);
    if (!vol) throw vmConflict(name, `Unable to remove volume [${opts.name}] because it does not exist`);
    if (!vol.dataVolume?.hotpluggable && !vol.persistentVolumeClaim?.hotpluggable) {
      throw vmConflict(name, `Unable to remove volume [${opts.name}] because it is not hotpluggable`);
    }
    spec.volumes = spec.volumes.filter((v: Obj) => v.name !== opts.name);
    const disk = (spec.domain.devices.disks ?? []).find((d: Obj) => d.name === opts.name);
    if (disk && !disk.cdrom)
      spec.domain.devices.disks = spec.domain.devices.disks.filter((d: Obj) => d.name !== opts.name);
    if (dryRun(opts)) return;
    await this.backend.updateVm(next);
  }

  // ---------------------------------------------------------------- VMI actions

  private async vmiAction(ns: string, name: string, sub: string, opts: Obj): Promise<void> {
    const dry = dryRun(opts);
    if (sub === 'pause') {
      const vmi = await this.runningVmi(ns, name, 'VM is not running');
      if (isPaused(vmi)) throw vmiConflict(name, 'VMI is already paused');
      if (!dry) await this.backend.setPaused(vmi, true);
    } else if (sub === 'unpause') {
      const vmi = await this.runningVmi(ns, name, 'VMI is not running');
      if (!isPaused(vmi)) throw vmiConflict(name, 'VMI is not paused');
      if (!dry) await this.backend.setPaused(vmi, false);
    } else if (sub === 'softreboot') {
      const vmi = await this.runningVmi(ns, name, 'VM is not running');
      if (isPaused(vmi)) throw vmiConflict(name, 'VMI is paused');
      const acpiOff = vmi.spec?.domain?.features?.acpi?.enabled === false;
      const agent = (vmi.status?.conditions ?? []).some(
        (c: Obj) => c.type === 'AgentConnected' && c.status === 'True',
      );
      if (acpiOff && !agent)
        throw vmiConflict(name, 'VMI neither have the agent connected nor the ACPI feature enabled');
      this.backend.reboot(vmi, 'soft');
    } else if (sub === 'reset') {
      const vmi = await this.vmi(ns, name);
      if (vmi.status?.phase !== 'Running') {
        throw internalError(
          `Failed to reset non-running VMI with phase ${vmi.status?.phase || 'Pending'}: VMI is not running`,
        );
      }
      this.backend.reboot(vmi, 'reset');
    } else throw pageNotFound();
  }

  private async consoleChecks(ns: string, name: string): Promise<Obj> {
    const vmi = await this.vmi(ns, name);
    if (vmi.spec?.domain?.devices?.autoattachSerialConsole === false)
      throw badRequest('No serial consoles are present.');
    if (vmi.status?.phase === 'Failed') throw vmiConflict(name, 'VMI is in failed status');
    if (vmi.status?.phase !== 'Running') throw badRequest('VMI is not running');
    return vmi;
  }

  // ---------------------------------------------------------------- HTTP

  /** One request (the body already read): the reply virt-api gives. */
  async reply(method: string, pathname: string, body: Buffer): Promise<Reply> {
    try {
      if (method === 'GET') {
        const d = this.discovery(pathname);
        if (d) return d;
      }
      const info = parseSubresourcePath(pathname);
      if (!info?.version || !(SUBRESOURCE_VERSIONS as readonly string[]).includes(info.version))
        throw pageNotFound();
      const { namespace: ns, name, subresource: sub } = info;
      if (!ns || !name || !sub) throw pageNotFound();
      if (info.resource === 'virtualmachines') {
        if (sub === 'expand-spec' && method === 'GET') {
          // pkg/virt-api/rest/expand.go `ExpandSpecVMRequestHandler`: the VM as stored, expanded
          return { status: 200, body: await this.backend.expandVm(await this.vm(ns, name)) };
        }
        if (method !== 'PUT')
          throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on ${sub}`);
        const opts = parseOptions(body);
        if (sub === 'start') await this.start(ns, name, opts);
        else if (sub === 'stop') await this.stop(ns, name, opts);
        else if (sub === 'restart') await this.restart(ns, name, opts);
        else if (sub === 'addvolume') await this.addVolume(ns, name, opts);
        else if (sub === 'removevolume') await this.removeVolume(ns, name, opts);
        else throw pageNotFound();
        return { status: 202 };
      }
      if (info.resource === 'virtualmachineinstances') {
        if (sub === 'guestosinfo' && method === 'GET') {
          const vmi = await this.runningVmi(ns, name, 'VMI is not running');
          return {
            status: 200,
            body: {
              guestAgentVersion: '9.0.0-sim',
              hostname: vmi.spec?.hostname ?? name,
              os: vmi.status?.guestOSInfo ?? {},
              timezone: 'UTC, 0',
            },
          };
        }
        if (sub === 'console') {
          // reached without an Upgrade header
          await this.consoleChecks(ns, name);
          throw badRequest('websocket: the client is not using the websocket protocol');
        }
        if (method !== 'PUT')
          throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on ${sub}`);
        await this.vmiAction(ns, name, sub, parseOptions(body));
        return { status: 200 };
      }
      throw pageNotFound();
    } catch (e) {
      return failure(e);
    }
  }

  /** A Node request handler (`body`: when the caller already read it). */
  handle = async (req: IncomingMessage, res: ServerResponse, body?: Buffer): Promise<void> => {
    let r: Reply;
    try {
      const b = body ?? (await readBody(req, 1 << 20, () => badRequest('request body too large')));
      r = await this.reply(req.method ?? 'GET', new URL(req.url ?? '/', 'http://x').pathname, b);
    } catch (e) {
      r = failure(e);
    }
    if (!res.headersSent) writeReply(res, r);
  };

  /** A Node `upgrade` handler: the console websocket; resolves with the status answered (101 when upgraded). */
  upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<number> => {
    const fail = (e: unknown): number => {
      const { status, body } = failure(e);
      const text = JSON.stringify(body);
      const reason = (body as { reason?: string }).reason ?? 'Error';
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
      return status;
    };
    try {
      const info = parseSubresourcePath(new URL(req.url ?? '/', 'http://x').pathname);
      if (
        !info?.version ||
        !(SUBRESOURCE_VERSIONS as readonly string[]).includes(info.version) ||
        info.resource !== 'virtualmachineinstances' ||
        (info.subresource !== 'console' && info.subresource !== 'vnc') ||
        !info.namespace ||
        !info.name
      ) {
        throw pageNotFound();
      }
      if (info.subresource === 'vnc') throw badRequest('VNC is not simulated: use the serial console');
      const vmi = await this.consoleChecks(info.namespace, info.name);
      if (socket.destroyed) return 0;
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const guest = this.backend.guest(vmi);
        const uid: string = vmi.metadata.uid;
        // The newest connection takes the serial port: the previous one is cut (no close frame).
        this.consoles.get(uid)?.terminate();
        this.consoles.set(uid, ws);
        // Live output only: what the guest printed while nobody was attached is not sent.
        const unsubscribe = guest.console.subscribe((data) => {
          if (ws.readyState === ws.OPEN) ws.send(data, { binary: true });
        });
        const unwatch = this.backend.onVmiEnd(info.namespace!, vmi.metadata.uid, () => {
          setTimeout(() => ws.close(1000, 'VMI stopped'), 5);
        });
        ws.on('message', (data: Buffer) =>
          guest.console.input(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)),
        );
        ws.on('close', () => {
          unsubscribe();
          unwatch();
          if (this.consoles.get(uid) === ws) this.consoles.delete(uid);
        });
      });
      return 101;
    } catch (e) {
      return fail(e);
    }
  };
}
