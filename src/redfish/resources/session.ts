import { loginRefused } from '../login-guard.ts';
import { fail, message, RedfishError } from '../messages.ts';
import { type Ctx, collection, type Json, type Privilege, type ResourceDef } from '../resource.ts';
import { collectionType, odataType } from '../schemas.ts';
import type { Session } from '../sessions.ts';

/**
 * SessionCollection and Session. Login is `POST Sessions` (or `Sessions/Members`) with UserName and
 * Password, without other authentication: 201 with `X-Auth-Token`, `Location` and the Session. A
 * user sees and deletes their own sessions; an administrator (ConfigureManager) anyone's. DELETE
 * revokes the token at once.
 */
const SESSIONS = '/redfish/v1/SessionService/Sessions';

function renderSession(s: Session): Json {
  return {
    '@odata.id': `${SESSIONS}/${s.id}`,
    '@odata.type': odataType('Session'),
    Id: s.id,
    Name: 'User Session',
    UserName: s.username,
    Password: null,
    SessionType: 'Redfish',
    CreatedTime: s.created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ClientOriginIPAddress: s.clientAddress,
  };
}

const canSeeAll = (ctx: Ctx): boolean => ctx.principal?.role === 'Administrator';

const login = {
  privilege: 'Login' as Privilege,
  anonymous: true,
  run: async (ctx: Ctx, body: Json | undefined) => {
    const user = body?.UserName;
    const password = body?.Password;
    if (user === undefined) throw fail(400, 'PropertyMissing', ['UserName'], ['#/UserName']);
    if (password === undefined) throw fail(400, 'PropertyMissing', ['Password'], ['#/Password']);
    if (typeof user !== 'string')
      throw fail(400, 'PropertyValueTypeError', [JSON.stringify(user), 'UserName']);
    if (typeof password !== 'string') throw fail(400, 'PropertyValueTypeError', ['(hidden)', 'Password']);
    const result = ctx.service.login.attempt(user, password, ctx.actor.source, 'session');
    if (!result.ok) {
      if (result.retryAfterSeconds !== null) throw loginRefused(result.retryAfterSeconds);
      throw new RedfishError(401, message('NoValidSession'), {
        'WWW-Authenticate': 'Basic realm="kubevirtbmc Redfish"',
      });
    }
    const created = ctx.service.sessions.create(
      result.account.username,
      ctx.actor.source.replace(/:\d+$/, ''),
    );
    if (!created) throw fail(503, 'SessionLimitExceeded');
    const uri = `${SESSIONS}/${created.session.id}`;
    return {
      status: 201,
      headers: { 'X-Auth-Token': created.token, Location: uri },
      body: renderSession(created.session),
    };
  },
};

export const sessions: ResourceDef = {
  uri: SESSIONS,
  get: (ctx) =>
    collection(
      collectionType('SessionCollection'),
      SESSIONS,
      'Session Collection',
      ctx.service.sessions
        .list()
        .filter((s) => canSeeAll(ctx) || s.username === ctx.principal?.user)
        .map((s) => `${SESSIONS}/${s.id}`),
    ),
  post: login,
};

/** `POST …/Sessions/Members` creates a session like `POST …/Sessions` (DSP0266). */
export const sessionMembers: ResourceDef = {
  uri: `${SESSIONS}/Members`,
  post: login,
};

function own(ctx: Ctx): Session {
  const id = ctx.params.SessionId ?? '';
  const s = ctx.service.sessions.get(id);
  if (!s) throw fail(404, 'ResourceNotFound', ['Session', id]);
  return s;
}

const ownOrAdmin = (ctx: Ctx): Privilege => {
  const s = ctx.service.sessions.get(ctx.params.SessionId ?? '');
  return s && s.username === ctx.principal?.user ? 'ConfigureSelf' : 'ConfigureManager';
};

export const session: ResourceDef = {
  uri: `${SESSIONS}/{SessionId}`,
  getPrivilege: ownOrAdmin,
  get: (ctx) => renderSession(own(ctx)),
  delete: {
    privilege: ownOrAdmin,
    run: async (ctx) => {
      const s = own(ctx);
      ctx.service.sessions.delete(s.id);
      return { status: 204 };
    },
  },
};
