import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWriteConflict, KubeApiError, toMachineError } from '../../../src/kubevirt/errors.ts';
import { annotationOps, guardedPatch, pointer } from '../../../src/kubevirt/json-patch.ts';

describe('JSON patch building', () => {
  test('every write is guarded by a test of metadata.resourceVersion, first', () => {
    const ops = guardedPatch('42', [{ op: 'add', path: '/spec/x', value: 1 }]);
    assert.deepEqual(ops[0], { op: 'test', path: '/metadata/resourceVersion', value: '42' });
    assert.equal(ops.length, 2);
    assert.deepEqual(guardedPatch('42', []), [], 'nothing to write: no request at all');
    assert.throws(() => guardedPatch(undefined, [{ op: 'remove', path: '/a' }]));
  });

  test('annotation keys are escaped as JSON pointers (RFC 6901)', () => {
    assert.equal(
      pointer('metadata', 'annotations', 'bmc.kubevirt.io/boot-override'),
      '/metadata/annotations/bmc.kubevirt.io~1boot-override',
    );
    assert.equal(pointer('a~b'), '/a~0b');
  });

  test('annotation ops create the map when absent, add, replace and remove only what changes', () => {
    assert.deepEqual(annotationOps(undefined, { a: '1', b: null }), [
      { op: 'add', path: '/metadata/annotations', value: { a: '1' } },
    ]);
    assert.deepEqual(annotationOps(undefined, { b: null }), []);
    assert.deepEqual(annotationOps({ a: '1', b: '2', c: '3' }, { a: '1', b: 'x', c: null, d: '4' }), [
      { op: 'replace', path: '/metadata/annotations/b', value: 'x' },
      { op: 'remove', path: '/metadata/annotations/c' },
      { op: 'add', path: '/metadata/annotations/d', value: '4' },
    ]);
  });
});

describe('error mapping keeps KubeVirt’s words', () => {
  const status = (code: number, reason: string, message: string, details?: object) =>
    KubeApiError.fromResponse(
      code,
      JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code, details }),
    );

  test('refusals of an action in the current state are InvalidState with the message', () => {
    const err = toMachineError(
      status(
        409,
        'Conflict',
        'Operation cannot be fulfilled on virtualmachine.kubevirt.io "vm1": VM is not running',
      ),
      'KubeVirt refused GracefulShutdown',
    );
    assert.equal(err.code, 'InvalidState');
    assert.match(err.message, /VM is not running/);
    const strategy = toMachineError(
      status(409, '', 'Once does not support manual start requests'),
      'KubeVirt refused On',
    );
    assert.equal(strategy.code, 'InvalidState');
    assert.match(strategy.message, /Once does not support manual start requests/);
  });

  test('lost write races are Conflict (retryable)', () => {
    const stale = status(
      409,
      'Conflict',
      'Operation cannot be fulfilled on virtualmachines.kubevirt.io "vm1": the object has been modified',
    );
    assert.equal(isWriteConflict(stale), true);
    assert.equal(toMachineError(stale, 'x').code, 'Conflict');
    const failedTest = status(
      422,
      'Invalid',
      'the server rejected our request: testing value /metadata/resourceVersion failed: test failed',
    );
    assert.equal(isWriteConflict(failedTest), true);
    assert.equal(toMachineError(failedTest, 'x').retryable, true);
    assert.equal(
      toMachineError(
        status(500, 'InternalError', 'unable to complete request: stop/start already underway'),
        'x',
      ).code,
      'Conflict',
    );
  });

  test('the other statuses', () => {
    assert.equal(
      toMachineError(status(404, 'NotFound', 'virtualmachine.kubevirt.io "vm1" not found'), 'x').code,
      'NotFound',
    );
    assert.equal(
      toMachineError(status(422, 'Invalid', 'spec.template: Invalid value: bootOrder'), 'x').code,
      'InvalidArgument',
    );
    assert.equal(toMachineError(status(400, 'BadRequest', 'bad'), 'x').code, 'InvalidArgument');
    assert.equal(toMachineError(status(403, 'Forbidden', 'forbidden'), 'x').code, 'NotSupported');
    assert.equal(toMachineError(status(503, 'ServiceUnavailable', 'x'), 'x').code, 'BackendUnavailable');
    assert.equal(
      toMachineError(new KubeApiError(0, 'Unreachable', 'ECONNREFUSED'), 'x').code,
      'BackendUnavailable',
    );
    assert.equal(toMachineError(new Error('boom'), 'x').code, 'BackendUnavailable');
  });

  test('a non-Status body still gives a readable message', () => {
    const err = KubeApiError.fromResponse(502, '<html>bad gateway</html>');
    assert.equal(err.status, 502);
    assert.match(err.message, /bad gateway/);
  });
});
