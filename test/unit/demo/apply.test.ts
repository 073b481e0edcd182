import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resourcePath } from '../../../src/demo/apply.ts';
import { kustomize } from '../../../src/demo/kustomize.ts';

const DEPLOY = new URL('../../../deploy/', import.meta.url).pathname;

test('every object of deploy/ gets the API path kube-apiserver serves it at', () => {
  const paths = kustomize(DEPLOY).map(resourcePath).sort();
  assert.deepEqual(paths, [
    '/api/v1/namespaces/kubevirtbmc-system',
    '/api/v1/namespaces/kubevirtbmc-system/serviceaccounts/kubevirtbmc-controller',
    '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/kubevirtbmc-agent-datavolumes',
    '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/kubevirtbmc-agent-secrets',
    '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/kubevirtbmc-controller-secrets',
    '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/kubevirtbmc-agent-datavolumes',
    '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/kubevirtbmc-agent-secrets',
    '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/kubevirtbmc-controller-secrets',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/virtualmachinebmcs.bmc.kubevirt.io',
    '/apis/apps/v1/namespaces/kubevirtbmc-system/deployments/kubevirtbmc-controller',
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubevirtbmc-controller',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/kubevirtbmc-controller',
    '/apis/rbac.authorization.k8s.io/v1/namespaces/kubevirtbmc-system/rolebindings/kubevirtbmc-controller-self',
    '/apis/rbac.authorization.k8s.io/v1/namespaces/kubevirtbmc-system/rolebindings/kubevirtbmc-leader-election',
    '/apis/rbac.authorization.k8s.io/v1/namespaces/kubevirtbmc-system/roles/kubevirtbmc-controller-self',
    '/apis/rbac.authorization.k8s.io/v1/namespaces/kubevirtbmc-system/roles/kubevirtbmc-leader-election',
  ]);
});
