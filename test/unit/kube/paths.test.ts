// The one path builder: core and grouped resources, objects and subresources, and every segment
// URL-encoded, so an odd name can never address another path.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  apiPath,
  apiVersionOf,
  groupVersionPath,
  KINDS,
  parseApiVersion,
  queryString,
} from '../../../src/kube/paths.ts';

describe('API paths', () => {
  const cm = KINDS.ConfigMap;

  test('core and grouped resources, collections and objects, subresources', () => {
    assert.equal(apiPath(cm), '/api/v1/configmaps');
    assert.equal(apiPath(cm, { namespace: 'ns' }), '/api/v1/namespaces/ns/configmaps');
    assert.equal(apiPath(cm, { namespace: 'ns', name: 'a' }), '/api/v1/namespaces/ns/configmaps/a');
    assert.equal(
      apiPath(KINDS.Deployment, { namespace: 'ns', name: 'd', subresource: 'scale' }),
      '/apis/apps/v1/namespaces/ns/deployments/d/scale',
    );
    assert.equal(
      apiPath({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' }, { namespace: 'x' }),
      '/apis/kubevirt.io/v1/namespaces/x/virtualmachines',
    );
    assert.equal(apiPath(KINDS.Namespace, { name: 'kube-system' }), '/api/v1/namespaces/kube-system');
    assert.throws(() => apiPath(cm, { subresource: 'status' }), /needs an object name/);
  });

  test('every segment is encoded: odd names cannot reach another path', () => {
    assert.equal(apiPath(cm, { namespace: 'ns', name: 'a b' }), '/api/v1/namespaces/ns/configmaps/a%20b');
    assert.equal(apiPath(cm, { namespace: 'ns', name: 'x/y' }), '/api/v1/namespaces/ns/configmaps/x%2Fy');
    assert.equal(apiPath(cm, { namespace: 'ns', name: '%' }), '/api/v1/namespaces/ns/configmaps/%25');
    assert.equal(apiPath(cm, { namespace: 'ns', name: '..' }), '/api/v1/namespaces/ns/configmaps/..');
    assert.equal(
      apiPath(cm, { namespace: 'a/b', name: '?q#f' }),
      '/api/v1/namespaces/a%2Fb/configmaps/%3Fq%23f',
    );
    assert.equal(
      apiPath(KINDS.Secret, { namespace: 'ns', name: 's', subresource: 'a/b' }),
      '/api/v1/namespaces/ns/secrets/s/a%2Fb',
    );
    // what the server decodes is what was meant
    const path = apiPath(cm, { namespace: 'ns', name: 'x/y %' });
    assert.equal(decodeURIComponent(path.split('/').at(-1)!), 'x/y %');
  });

  test('queries: encoded, undefined values left out', () => {
    assert.equal(
      apiPath(cm, {
        namespace: 'ns',
        query: { labelSelector: 'a=b,c in (d)', limit: 5, watch: true, x: undefined },
      }),
      '/api/v1/namespaces/ns/configmaps?labelSelector=a%3Db%2Cc+in+%28d%29&limit=5&watch=true',
    );
    assert.equal(queryString({}), '');
    assert.equal(queryString(undefined), '');
  });

  test('group/version helpers', () => {
    assert.equal(groupVersionPath('', 'v1'), '/api/v1');
    assert.equal(groupVersionPath('bmc.kubevirt.io', 'v1beta1'), '/apis/bmc.kubevirt.io/v1beta1');
    assert.deepEqual(parseApiVersion('apps/v1'), { group: 'apps', version: 'v1' });
    assert.deepEqual(parseApiVersion('v1'), { group: '', version: 'v1' });
    assert.equal(apiVersionOf(KINDS.Role), 'rbac.authorization.k8s.io/v1');
    assert.equal(apiVersionOf(KINDS.Secret), 'v1');
  });
});
