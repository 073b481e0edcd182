import type { InsertMediaRequest, MediaSlot } from '../../machine/index.ts';
import { fail, message, RedfishError } from '../messages.ts';
import {
  type Ctx,
  collection,
  type Json,
  managerOf,
  managerUri,
  type Reply,
  type ResourceDef,
  type SystemEntry,
  systemOf,
  systemUri,
} from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import { renderTask, taskMonitorUri } from './task.ts';

/**
 * VirtualMediaCollection and VirtualMedia, with the InsertMedia and EjectMedia actions. The same
 * slots (the Machine's, e.g. `Cd`) appear under the System (where Ironic looks first) and under the
 * Manager (where bmclib looks first). Insert accepts the minimal `{"Image": url}`; eject accepts no
 * body, no Content-Type, or `{}`; PATCH inserts (`Image`) and ejects (`Image: null` or
 * `Inserted: false`). An insert the Machine is still fetching answers 202 with a task monitor, and
 * the slot shows its progress (`Status.State` `Updating`, `Oem.KubeVirt.PercentComplete`).
 */
type Parent = 'Systems' | 'Managers';

const PARENTS: readonly { kind: Parent; param: string }[] = [
  { kind: 'Systems', param: 'ComputerSystemId' },
  { kind: 'Managers', param: 'ManagerId' },
];

const ownerOf = (kind: Parent, ctx: Ctx): SystemEntry =>
  kind === 'Systems' ? systemOf(ctx) : managerOf(ctx);
const parentUri = (kind: Parent, s: SystemEntry): string =>
  kind === 'Systems' ? systemUri(s) : managerUri(s);

function slotOf(kind: Parent, ctx: Ctx): { s: SystemEntry; slot: MediaSlot; uri: string } {
  const s = ownerOf(kind, ctx);
  const id = ctx.params.VirtualMediaId ?? '';
  const slot = s.machine.getMediaSlots().find((m) => m.id === id);
  if (!slot) throw fail(404, 'ResourceNotFound', ['VirtualMedia', id]);
  return { s, slot, uri: `${parentUri(kind, s)}/VirtualMedia/${id}` };
}

const STATUS: Record<MediaSlot['state'], Json> = {
  Empty: { State: 'Enabled', Health: 'OK' },
  Inserting: { State: 'Updating', Health: 'OK' },
  Inserted: { State: 'Enabled', Health: 'OK' },
  Ejecting: { State: 'Updating', Health: 'OK' },
  Failed: { State: 'Enabled', Health: 'Critical' },
};

export function renderVirtualMedia(uri: string, slot: MediaSlot): Json {
  const inserted = slot.state === 'Inserting' || slot.state === 'Inserted';
  const body: Json = {
    '@odata.id': uri,
    '@odata.type': odataType('VirtualMedia'),
    Id: slot.id,
    Name: slot.name,
    MediaTypes: slot.mediaTypes,
    Image: slot.image,
    ImageName: slot.imageName,
    Inserted: inserted,
    WriteProtected: slot.writeProtected,
    ConnectedVia: slot.image && inserted ? 'URI' : 'NotConnected',
    Status: STATUS[slot.state],
    Oem: {
      KubeVirt: {
        // Described by the OEM schema KubeVirt_v1.xml (docs/redfish.md, "OEM extensions").
        '@odata.type': KUBEVIRT_VIRTUAL_MEDIA_OEM_TYPE,
        MediaState: slot.state,
        PercentComplete: slot.progressPercent,
        Message: slot.message,
      },
    },
    Actions: {
      '#VirtualMedia.InsertMedia': {
        target: `${uri}/Actions/VirtualMedia.InsertMedia`,
        'TransferProtocolType@Redfish.AllowableValues': ['HTTP', 'HTTPS'],
        'TransferMethod@Redfish.AllowableValues': ['Stream', 'Upload'],
        '@Redfish.ActionInfo': `${uri}/InsertMediaActionInfo`,
      },
      '#VirtualMedia.EjectMedia': { target: `${uri}/Actions/VirtualMedia.EjectMedia` },
    },
  };
  if (slot.transferProtocol) body.TransferProtocolType = slot.transferProtocol;
  return body;
}

/** The `@odata.type` of `Oem.KubeVirt` in a VirtualMedia (complex type `VirtualMedia` of KubeVirt.v1_0_0). */
export const KUBEVIRT_VIRTUAL_MEDIA_OEM_TYPE = '#KubeVirt.v1_0_0.VirtualMedia';

const INSERT = 'VirtualMedia.InsertMedia';

/** Validates InsertMedia parameters (or their PATCH equivalents) into a Machine request. */
function insertRequest(body: Json, where: 'action' | 'patch'): InsertMediaRequest {
  const bad = (param: string, value: unknown, id: 'type' | 'list' | 'conflict'): RedfishError => {
    const rel = [`#/${param}`];
    const shown = typeof value === 'string' ? value : JSON.stringify(value);
    if (where === 'patch') {
      return id === 'type'
        ? fail(400, 'PropertyValueTypeError', [shown, param], rel)
        : id === 'list'
          ? fail(400, 'PropertyValueNotInList', [shown, param], rel)
          : fail(400, 'PropertyValueConflict', [param, 'Image'], rel);
    }
    return id === 'type'
      ? fail(400, 'ActionParameterValueTypeError', [shown, param, INSERT], rel)
      : id === 'list'
        ? fail(400, 'ActionParameterValueNotInList', [shown, param, INSERT], rel)
        : fail(400, 'ActionParameterValueConflict', [param, shown], rel);
  };
  const image = body.Image;
  if (typeof image !== 'string') throw bad('Image', image, 'type');
  const scheme = /^([a-z]+):/i.exec(image)?.[1]?.toUpperCase();
  const req: { image: string; writeProtected?: boolean; username?: string; password?: string } = { image };
  if ('Inserted' in body && body.Inserted !== true) {
    throw typeof body.Inserted === 'boolean'
      ? bad('Inserted', body.Inserted, 'conflict')
      : bad('Inserted', body.Inserted, 'type');
  }
  if ('WriteProtected' in body) {
    if (typeof body.WriteProtected !== 'boolean') throw bad('WriteProtected', body.WriteProtected, 'type');
    req.writeProtected = body.WriteProtected;
  }
  if ('TransferProtocolType' in body && body.TransferProtocolType !== null) {
    const t = body.TransferProtocolType;
    if (t !== 'HTTP' && t !== 'HTTPS') throw bad('TransferProtocolType', t, 'list');
    if (scheme !== t) throw bad('TransferProtocolType', t, 'conflict');
  }
  if ('TransferMethod' in body && body.TransferMethod !== null) {
    if (body.TransferMethod !== 'Stream' && body.TransferMethod !== 'Upload') {
      throw bad('TransferMethod', body.TransferMethod, 'list');
    }
  }
  for (const key of ['UserName', 'Password'] as const) {
    const v = body[key];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') throw bad(key, key === 'Password' ? '(hidden)' : v, 'type');
    if (key === 'UserName') req.username = v;
    else req.password = v;
  }
  return req;
}

async function insert(
  ctx: Ctx,
  s: SystemEntry,
  slotId: string,
  req: InsertMediaRequest,
  target: string,
): Promise<Reply | undefined> {
  const slot = await s.machine.insertMedia(slotId, req, ctx.actor);
  if (slot.state !== 'Inserting') return undefined;
  const body = { Image: slot.image };
  const task = ctx.service.tasks.trackInsert(s.machine, slotId, slot.image ?? req.image, target, body);
  const monitor = taskMonitorUri(task.id);
  return { status: 202, headers: { Location: monitor, 'Retry-After': '1' }, body: renderTask(task) };
}

function defsFor(kind: Parent): ResourceDef[] {
  const param = `{${PARENTS.find((p) => p.kind === kind)!.param}}`;
  const base = `/redfish/v1/${kind}/${param}/VirtualMedia`;
  const member = `${base}/{VirtualMediaId}`;
  return [
    {
      uri: base,
      get: (ctx) => {
        const s = ownerOf(kind, ctx);
        const uri = `${parentUri(kind, s)}/VirtualMedia`;
        return collection(
          collectionType('VirtualMediaCollection'),
          uri,
          'Virtual Media Collection',
          s.machine.getMediaSlots().map((m) => `${uri}/${m.id}`),
        );
      },
    },
    {
      uri: member,
      get: (ctx) => {
        const { slot, uri } = slotOf(kind, ctx);
        return renderVirtualMedia(uri, slot);
      },
      patch: {
        privilege: 'ConfigureComponents',
        run: async (ctx, body) => {
          const { s, slot, uri } = slotOf(kind, ctx);
          const writable = new Set([
            'Image',
            'Inserted',
            'WriteProtected',
            'TransferProtocolType',
            'TransferMethod',
            'UserName',
            'Password',
          ]);
          const current = renderVirtualMedia(uri, slot);
          const errors = [];
          for (const [k, v] of Object.entries(body)) {
            if (k.includes('@') || writable.has(k)) continue;
            if (k in current) {
              if (JSON.stringify(current[k]) !== JSON.stringify(v)) {
                errors.push(message('PropertyNotWritable', [k], [`#/${k}`]));
              }
            } else errors.push(message('PropertyUnknown', [k], [`#/${k}`]));
          }
          if (errors.length > 0) throw new RedfishError(400, errors);
          const eject = ('Image' in body && body.Image === null) || body.Inserted === false;
          if (eject) {
            await s.machine.ejectMedia(slot.id, ctx.actor);
            return undefined;
          }
          if (!('Image' in body)) {
            if (Object.keys(body).some((k) => writable.has(k))) {
              throw fail(400, 'PropertyMissing', ['Image'], ['#/Image']);
            }
            return undefined;
          }
          return insert(ctx, s, slot.id, insertRequest(body, 'patch'), uri);
        },
      },
    },
    {
      uri: `${member}/Actions/VirtualMedia.InsertMedia`,
      post: {
        privilege: 'ConfigureComponents',
        run: async (ctx, body) => {
          const { s, slot } = slotOf(kind, ctx);
          if (!body || !('Image' in body))
            throw fail(400, 'ActionParameterMissing', [INSERT, 'Image'], ['#/Image']);
          return (await insert(ctx, s, slot.id, insertRequest(body, 'action'), ctx.path)) ?? { status: 204 };
        },
      },
    },
    {
      uri: `${member}/Actions/VirtualMedia.EjectMedia`,
      post: {
        privilege: 'ConfigureComponents',
        run: async (ctx) => {
          const { s, slot } = slotOf(kind, ctx);
          await s.machine.ejectMedia(slot.id, ctx.actor);
          return { status: 204 };
        },
      },
    },
  ];
}

export const systemVirtualMedia: ResourceDef[] = defsFor('Systems');
export const managerVirtualMedia: ResourceDef[] = defsFor('Managers');
