/**
 * virt-api's subresource endpoints (subresources.kubevirt.io/v1): VM start/stop/restart and
 * add/removevolume, VMI pause/unpause/softreboot/reset/guestosinfo, and the serial console websocket.
 * Status codes and refusal messages follow KubeVirt's pkg/virt-api/rest.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { ApiError, badRequest, conflict, internalError, notFound } from '../errors.ts';
import { clone } from '../patch.ts';
import type { Registry } from '../registry.ts';
import type { RequestInfo } from '../server.ts';
import type { Obj } from '../store.ts';
import { isFinal, type KubeVirtSim, runStrategyOf } from './controller.ts';

const GROUP = 'kubevirt.io';

function vmConflict(name: string, msg: string): ApiError {
  return conflict(GROUP, 'virtualmachine', name, msg);
}
function vmiConflict(name: string, msg: string): ApiError {
  return conflict(GROUP, 'virtualmachineinstance', name, msg);
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

function send(res: ServerResponse, code: number, err?: ApiError): void {
  if (err) {
    const text = JSON.stringify(err.status);
    res.writeHead(err.code, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
    return;
  }
  res.writeHead(code, { 'Content-Length': 0 });
  res.end();
}

export class KubeVirtApi {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('plain.kubevirt.io') ? 'plain.kubevirt.io' : false),
  });

  constructor(
    private readonly reg: Registry,
    private readonly sim: KubeVirtSim,
  ) {}

  close(): void {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }

  private vm(ns: string, name: string): Obj {
    const vm = this.reg.tryGet(this.sim.VM, ns, name);
    if (!vm) throw notFound(GROUP, 'virtualmachine', name);
    return vm;
  }

  private vmiOf(ns: string, name: string): Obj | undefined {
    return this.reg.tryGet(this.sim.VMI, ns, name);
  }

  private vmi(ns: string, name: string): Obj {
    const vmi = this.vmiOf(ns, name);
    if (!vmi) throw notFound(GROUP, 'virtualmachineinstance', name);
    return vmi;
  }

  private patchVm(ns: string, name: string, ops: Obj[], status: boolean): void {
    try {
      this.reg.patch(
        this.sim.VM,
        ns,
        name,
        'application/json-patch+json',
        ops,
        status ? { subresource: 'status' } : {},
      );
    } catch (e) {
      if (e instanceof ApiError && e.code === 422) {
        if (/jsonpatch test operation does not apply/.test(e.message)) throw vmConflict(name, e.message);
        throw internalError(e.message);
      }
      throw e;
    }
  }

  private changeRequests(vm: Obj, requests: Obj[]): void {
    const cur = vm.status?.stateChangeRequests;
    if (cur?.length) throw internalError('unable to complete request: stop/start already underway');
    const ops: Obj[] = [];
    if (vm.status === undefined)
      ops.push(
        { op: 'test', path: '/status', value: null },
        { op: 'add', path: '/status', value: { stateChangeRequests: requests } },
      );
    else ops.push({ op: 'add', path: '/status/stateChangeRequests', value: requests });
    if (vm.status === undefined) {
      this.reg.patch(
        this.sim.VM,
        vm.metadata.namespace,
        vm.metadata.name,
        'application/merge-patch+json',
        { status: { stateChangeRequests: requests } },
        { subresource: 'status' },
      );
      return;
    }
    this.patchVm(vm.metadata.namespace, vm.metadata.name, ops, true);
  }

  private setVmiGrace(vmi: Obj, seconds: number): void {
    const cur = vmi.spec?.terminationGracePeriodSeconds;
    const ops =
      cur === undefined
        ? [{ op: 'add', path: '/spec/terminationGracePeriodSeconds', value: seconds }]
        : [
            { op: 'test', path: '/spec/terminationGracePeriodSeconds', value: cur },
            { op: 'replace', path: '/spec/terminationGracePeriodSeconds', value: seconds },
          ];
    this.reg.patch(
      this.sim.VMI,
      vmi.metadata.namespace,
      vmi.metadata.name,
      'application/json-patch+json',
      ops,
    );
  }

  private setRunStrategy(vm: Obj, strategy: 'Always' | 'Halted'): void {
    const ns = vm.metadata.namespace;
    const name = vm.metadata.name;
    if (vm.spec?.running !== undefined) {
      this.patchVm(
        ns,
        name,
        [
          { op: 'test', path: '/spec/running', value: vm.spec.running },
          { op: 'replace', path: '/spec/running', value: strategy === 'Always' },
        ],
        false,
      );
    } else if (vm.spec?.runStrategy !== undefined) {
      this.patchVm(
        ns,
        name,
        [
          { op: 'test', path: '/spec/runStrategy', value: vm.spec.runStrategy },
          { op: 'replace', path: '/spec/runStrategy', value: strategy },
        ],
        false,
      );
    } else {
      this.patchVm(ns, name, [{ op: 'add', path: '/spec/runStrategy', value: strategy }], false);
    }
  }

  start(ns: string, name: string, opts: Obj): void {
    const vm = this.vm(ns, name);
    if (
      (vm.status?.conditions ?? []).some(
        (c: Obj) => c.type === 'ManualRecoveryRequired' && c.status === 'True',
      )
    ) {
      throw vmConflict(name, 'VM is in a state that requires manual recovery');
    }
    const vmi = this.vmiOf(ns, name);
    const phase = vmi?.status?.phase ?? '';
    if (vmi && !isFinal(vmi) && phase !== '' && phase !== 'Unknown')
      throw vmConflict(name, 'VM is already running');
    const strategy = runStrategyOf(vm);
    const dry = (opts.dryRun ?? []).includes('All');
    switch (strategy) {
      case 'Halted':
        if (dry) return;
        if (opts.paused === true) this.changeRequests(vm, [{ action: 'Start', data: { paused: 'true' } }]);
        else this.setRunStrategy(vm, 'Always');
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
        this.changeRequests(vm, reqs);
        return;
      }
      default:
        throw vmConflict(name, `${strategy} does not support manual start requests`);
    }
  }

  stop(ns: string, name: string, opts: Obj): void {
    const vm = this.vm(ns, name);
    const vmi = this.vmiOf(ns, name);
    const strategy = runStrategyOf(vm);
    const grace: number | undefined = typeof opts.gracePeriod === 'number' ? opts.gracePeriod : undefined;
    const live = !!vmi && !isFinal(vmi);
    const dry = (opts.dryRun ?? []).includes('All');
    switch (strategy) {
      case 'Halted': {
        if (!live) throw vmConflict(name, 'VM is not running');
        const current = vmi!.spec?.terminationGracePeriodSeconds ?? 180;
        if (grace === undefined || grace >= current)
          throw vmConflict(name, 'Halted only supports manual stop requests with a shorter graceperiod');
        if (dry) return;
        this.setVmiGrace(vmi!, grace);
        this.reg.patch(
          this.sim.VM,
          ns,
          name,
          'application/merge-patch+json',
          { status: { stateChangeRequests: [{ action: 'Stop', uid: vmi!.metadata.uid }] } },
          { subresource: 'status' },
        );
        return;
      }
      case 'Manual':
      case 'RerunOnFailure':
        if (!live) throw vmConflict(name, 'VM is not running');
        if (dry) return;
        if (grace !== undefined) this.setVmiGrace(vmi!, grace);
        this.reg.patch(
          this.sim.VM,
          ns,
          name,
          'application/merge-patch+json',
          { status: { stateChangeRequests: [{ action: 'Stop', uid: vmi!.metadata.uid }] } },
          { subresource: 'status' },
        );
        return;
      default:
        if (dry) return;
        if (grace !== undefined && live && !vmi!.metadata.deletionTimestamp) this.setVmiGrace(vmi!, grace);
        this.setRunStrategy(vm, 'Halted');
    }
  }

  restart(ns: string, name: string, opts: Obj): void {
    const g = opts.gracePeriodSeconds;
    if (g !== undefined && g !== null) {
      if (typeof g !== 'number' || g > 0)
        throw badRequest('For force restart, only gracePeriod=0 is supported for now');
      if (g < 0) throw badRequest('gracePeriodSeconds must be greater than or equal to 0');
    }
    const vm = this.vm(ns, name);
    const strategy = runStrategyOf(vm);
    if (strategy === 'Halted' || strategy === 'Once')
      throw vmConflict(name, `RunStategy ${strategy} does not support manual restart requests`);
    if ((vm.status?.conditions ?? []).some((c: Obj) => c.type === 'VolumesChange' && c.status === 'True')) {
      throw vmConflict(name, 'VM has volume changes in progress');
    }
    const vmi = this.vmiOf(ns, name);
    if (!vmi) throw vmConflict(name, 'VM is not running: Halted');
    if ((opts.dryRun ?? []).includes('All')) return;
    if (g === 0 && !vmi.metadata.deletionTimestamp) this.setVmiGrace(vmi, 1);
    this.changeRequests(vm, [{ action: 'Stop', uid: vmi.metadata.uid }, { action: 'Start' }]);
  }

  private addVolume(ns: string, name: string, opts: Obj): void {
    const vm = this.vm(ns, name);
    if (!opts.name) throw badRequest('AddVolumeOptions requires name to be set');
    if (!opts.disk) throw badRequest('AddVolumeOptions requires disk to not be nil');
    const src = opts.volumeSource;
    if (!src || (!src.dataVolume && !src.persistentVolumeClaim))
      throw badRequest('AddVolumeOptions requires a VolumeSource to be set');
    const next = clone(vm);
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
    if ((opts.dryRun ?? []).includes('All')) return;
    this.reg.update(this.sim.VM, ns, name, next);
  }

  private removeVolume(ns: string, name: string, opts: Obj): void {
    const vm = this.vm(ns, name);
    if (!opts.name) throw badRequest('RemoveVolumeOptions requires name to be set');
    const next = clone(vm);
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
    if ((opts.dryRun ?? []).includes('All')) return;
    this.reg.update(this.sim.VM, ns, name, next);
  }

  private runningVmi(ns: string, name: string, notRunning: string): Obj {
    const vmi = this.vmi(ns, name);
    if (vmi.status?.phase !== 'Running' || vmi.metadata.deletionTimestamp)
      throw vmiConflict(name, notRunning);
    return vmi;
  }

  private isPaused(vmi: Obj): boolean {
    return (vmi.status?.conditions ?? []).some((c: Obj) => c.type === 'Paused' && c.status === 'True');
  }

  /** HTTP handler for the whole subresources.kubevirt.io group. */
  handle = (_req: IncomingMessage, res: ServerResponse, info: RequestInfo, body: Buffer): void => {
    try {
      const method = info.method;
      if (!info.isResource) {
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      }
      const ns = info.namespace;
      const name = info.name;
      const sub = info.subresource;
      if (!ns || !name || !sub)
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      if (info.resource === 'virtualmachines') {
        if (method !== 'PUT')
          throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on ${sub}`);
        const opts = parseOptions(body);
        if (sub === 'start') this.start(ns, name, opts);
        else if (sub === 'stop') this.stop(ns, name, opts);
        else if (sub === 'restart') this.restart(ns, name, opts);
        else if (sub === 'addvolume') this.addVolume(ns, name, opts);
        else if (sub === 'removevolume') this.removeVolume(ns, name, opts);
        else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        send(res, 202);
        return;
      }
      if (info.resource === 'virtualmachineinstances') {
        if (sub === 'guestosinfo' && method === 'GET') {
          const vmi = this.runningVmi(ns, name, 'VMI is not running');
          const text = JSON.stringify({
            guestAgentVersion: '9.0.0-sim',
            hostname: vmi.spec?.hostname ?? name,
            os: vmi.status?.guestOSInfo ?? {},
            timezone: 'UTC, 0',
          });
          res.writeHead(200, {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(text),
          });
          res.end(text);
          return;
        }
        if (sub === 'console') {
          // reached without an Upgrade header
          this.consoleChecks(ns, name);
          throw badRequest('websocket: the client is not using the websocket protocol');
        }
        if (method !== 'PUT')
          throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on ${sub}`);
        const opts = parseOptions(body);
        const dry = (opts.dryRun ?? []).includes('All');
        if (sub === 'pause') {
          const vmi = this.runningVmi(ns, name, 'VM is not running');
          if (this.isPaused(vmi)) throw vmiConflict(name, 'VMI is already paused');
          if (!dry) this.sim.setPaused(vmi, true);
        } else if (sub === 'unpause') {
          const vmi = this.runningVmi(ns, name, 'VMI is not running');
          if (!this.isPaused(vmi)) throw vmiConflict(name, 'VMI is not paused');
          if (!dry) this.sim.setPaused(vmi, false);
        } else if (sub === 'softreboot') {
          const vmi = this.runningVmi(ns, name, 'VM is not running');
          if (this.isPaused(vmi)) throw vmiConflict(name, 'VMI is paused');
          const acpiOff = vmi.spec?.domain?.features?.acpi?.enabled === false;
          const agent = (vmi.status?.conditions ?? []).some(
            (c: Obj) => c.type === 'AgentConnected' && c.status === 'True',
          );
          if (acpiOff && !agent)
            throw vmiConflict(name, 'VMI neither have the agent connected nor the ACPI feature enabled');
          this.sim.rebootGuest(vmi, 'soft');
        } else if (sub === 'reset') {
          const vmi = this.vmi(ns, name);
          if (vmi.status?.phase !== 'Running') {
            throw internalError(
              `Failed to reset non-running VMI with phase ${vmi.status?.phase || 'Pending'}: VMI is not running`,
            );
          }
          this.sim.rebootGuest(vmi, 'reset');
        } else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        send(res, 200);
        return;
      }
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    } catch (e) {
      send(res, 0, e instanceof ApiError ? e : internalError(String(e)));
    }
  };

  private consoleChecks(ns: string, name: string): Obj {
    const vmi = this.vmi(ns, name);
    if (vmi.spec?.domain?.devices?.autoattachSerialConsole === false)
      throw badRequest('No serial consoles are present.');
    if (vmi.status?.phase === 'Failed') throw vmiConflict(name, 'VMI is in failed status');
    if (vmi.status?.phase !== 'Running') throw badRequest('VMI is not running');
    return vmi;
  }

  upgrade = (req: IncomingMessage, socket: Socket, head: Buffer, info: RequestInfo): void => {
    const fail = (e: ApiError) => {
      const text = JSON.stringify(e.status);
      socket.end(
        `HTTP/1.1 ${e.code} ${e.status.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    };
    try {
      if (
        info.resource !== 'virtualmachineinstances' ||
        (info.subresource !== 'console' && info.subresource !== 'vnc')
      ) {
        throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      }
      if (info.subresource === 'vnc') throw badRequest('VNC is not simulated: use the serial console');
      const vmi = this.consoleChecks(info.namespace!, info.name!);
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const guest = this.sim.guest(vmi);
        const transcript = guest.console.transcript;
        if (transcript) ws.send(Buffer.from(transcript, 'utf8'), { binary: true });
        const unsubscribe = guest.console.subscribe((data) => {
          if (ws.readyState === ws.OPEN) ws.send(data, { binary: true });
        });
        const ns = info.namespace!;
        const name = info.name!;
        const uid = vmi.metadata.uid;
        const unwatch = this.reg.store.subscribe((e) => {
          if (e.key !== 'kubevirt.io/virtualmachineinstances' || e.obj.metadata.uid !== uid) return;
          if (e.type === 'DELETED' || isFinal(e.obj)) {
            setTimeout(() => ws.close(1000, 'VMI stopped'), 5);
          }
        });
        ws.on('message', (data: Buffer) =>
          guest.console.input(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)),
        );
        ws.on('close', () => {
          unsubscribe();
          unwatch();
        });
        void ns;
        void name;
      });
    } catch (e) {
      fail(e instanceof ApiError ? e : internalError(String(e)));
    }
  };
}
