// The one API error: from a Status body, a body that is not one, a watch ERROR event; and the
// predicates every caller uses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeApiError as FromClient, isNotFound as notFoundFromClient } from '../../../src/kube/client.ts';
import {
  isAlreadyExists,
  isConflict,
  isExpired,
  isForbidden,
  isGone,
  isNotFound,
  isResourceMissing,
  isTooManyRequests,
  isUnreachable,
  KubeApiError,
  statusOf,
} from '../../../src/kube/errors.ts';
import { KubeApiError as FromKubeVirt } from '../../../src/kubevirt/errors.ts';

const statusBody = (code: number, reason: string, message: string, details?: object) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message, details });

describe('KubeApiError', () => {
  test('from a Status body: status, reason, message and details', () => {
    const err = KubeApiError.fromResponse(
      404,
      statusBody(404, 'NotFound', 'configmaps "x" not found', { name: 'x', kind: 'configmaps' }),
    );
    assert.equal(err.status, 404);
    assert.equal(err.code, 404, 'code is the same number (the name client-node uses)');
    assert.equal(err.reason, 'NotFound');
    assert.equal(err.message, 'configmaps "x" not found');
    assert.deepEqual(err.details, { name: 'x', kind: 'configmaps' });
    assert.equal(err.name, 'KubeApiError');
    assert.ok(err instanceof Error);
  });

  test('a body that is not a Status: the text (or the fallback), a reason from the status', () => {
    const html = KubeApiError.fromResponse(502, '<html>bad gateway</html>');
    assert.equal(html.status, 502);
    assert.equal(html.message, '<html>bad gateway</html>');
    const empty = KubeApiError.fromResponse(503, '', 'HTTP 503 on GET /api/v1/pods');
    assert.equal(empty.message, 'HTTP 503 on GET /api/v1/pods');
    assert.equal(empty.reason, 'ServiceUnavailable');
    const text = KubeApiError.fromResponse(404, '404 page not found\n', 'HTTP 404 on GET /x');
    assert.equal(text.message, 'HTTP 404 on GET /x: 404 page not found');
    assert.equal(text.reason, 'NotFound');
    const jsonNoMessage = KubeApiError.fromResponse(500, '{"foo":1}');
    assert.equal(jsonNoMessage.message, 'HTTP 500');
    assert.equal(jsonNoMessage.reason, 'InternalError');
  });

  test('from a watch ERROR event: the Status it carries, 410 Expired among them', () => {
    const gone = KubeApiError.fromWatchEvent({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: 'too old resource version: 5 (20)',
      reason: 'Expired',
      code: 410,
    });
    assert.equal(gone.status, 410);
    assert.equal(gone.reason, 'Expired');
    assert.match(gone.message, /too old resource version/);
    assert.ok(isGone(gone) && isExpired(gone));
    const internal = KubeApiError.fromWatchEvent({ code: 500, message: 'etcd went away' });
    assert.equal(internal.status, 500);
    assert.equal(internal.reason, 'InternalError');
    const garbage = KubeApiError.fromWatchEvent(null);
    assert.equal(garbage.status, 0);
    assert.equal(garbage.message, 'watch error event');
  });

  test('one class, whichever module it is imported from', () => {
    assert.equal(FromClient, KubeApiError);
    assert.equal(FromKubeVirt, KubeApiError);
    assert.equal(notFoundFromClient, isNotFound);
  });

  test('predicates read this class, and the numeric code of other errors (client-node, doubles)', () => {
    const e = (status: number, reason = '', details?: object) =>
      new KubeApiError(status, reason, 'm', details);
    assert.ok(isNotFound(e(404)));
    assert.ok(isConflict(e(409)));
    assert.ok(isAlreadyExists(e(409, 'AlreadyExists')) && !isAlreadyExists(e(409, 'Conflict')));
    assert.ok(isForbidden(e(403)));
    assert.ok(isTooManyRequests(e(429)));
    assert.ok(isUnreachable(e(0)) && !isUnreachable(e(500)));
    assert.ok(isResourceMissing(e(404)), 'a 404 naming no object: the resource is not served');
    assert.ok(!isResourceMissing(e(404, 'NotFound', { name: 'vm1' })), 'a 404 naming an object');
    assert.ok(isNotFound(Object.assign(new Error('x'), { code: 404 })));
    assert.equal(statusOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), undefined);
    assert.equal(statusOf(undefined), undefined);
    assert.ok(!isNotFound(new Error('plain')));
  });
});
