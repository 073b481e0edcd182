/**
 * The Helm chart (deploy/chart) without a cluster: `helm lint` passes, `helm template` with the
 * default values renders exactly the objects `kubectl kustomize deploy/` renders (CRD included), each
 * value reaches the controller flag or the object it names, and a bad value is refused with a
 * message saying which. Installing, upgrading and uninstalling on the real control plane is
 * test/integration/controller/helm.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { syncedChartFiles } from '../../scripts/sync-chart.ts';
import { missingClients } from '../support/clients.ts';
import { CHART, helm, helmOk, missingHelm, REPO } from '../support/helm.ts';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects as parsed YAML
type Obj = any;
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function objects(text: string): Map<string, Obj> {
  const docs = parseAllDocuments(text)
    .map((d) => d.toJSON())
    .filter(Boolean) as Obj[];
  return new Map(docs.map((o) => [key(o), o]));
}

async function template(...set: string[]): Promise<Map<string, Obj>> {
  const out = await helmOk([
    'template',
    'kubevirtbmc',
    CHART,
    '--include-crds',
    '--namespace',
    'kubevirtbmc-system',
    // `json:<path>=<json>` is a --set-json (an empty map cannot be said with --set)
    ...set.flatMap((s) => (s.startsWith('json:') ? ['--set-json', s.slice(5)] : ['--set', s])),
  ]);
  return objects(out);
}

async function controllerArgs(...set: string[]): Promise<string[]> {
  const d = (await template(...set)).get('Deployment/kubevirtbmc-system/kubevirtbmc-controller');
  return d.spec.template.spec.containers[0].args;
}

const skip = missingHelm();

describe('the Helm chart', { skip, timeout: 300_000 }, () => {
  test('helm lint passes', async () => {
    const r = await helm(['lint', '--strict', CHART]);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('helm template with the default values renders what kubectl kustomize deploy/ renders', {
    skip: missingClients('kubectl'),
  }, async () => {
    const k = spawnSync('kubectl', ['kustomize', join(REPO, 'deploy')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(k.status, 0, k.stderr);
    const kustomized = objects(k.stdout);
    const chart = await template();
    assert.deepEqual([...chart.keys()].sort(), [...kustomized.keys()].sort());
    for (const [k, o] of chart) assert.deepEqual(o, kustomized.get(k), k);
  });

  test('the chart CRD and RBAC are generated from deploy/ as it is now', () => {
    for (const [path, text] of syncedChartFiles())
      assert.equal(
        readFileSync(join(CHART, path), 'utf8'),
        text,
        `deploy/chart/${path} is out of date: run \`node --import tsx scripts/sync-chart.ts\``,
      );
  });

  test("the chart's image is the project's one image name (package.json config.image)", () => {
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
    assert.equal(values.image.repository, pkg.config.image);
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'));
    assert.equal(chart.appVersion, pkg.version);
  });

  test('image, placement, agent and Service values become the controller flags', async () => {
    const args = await controllerArgs(
      'image.repository=registry.example/kubevirtbmc',
      'image.tag=0.2.0',
      'image.pullPolicy=Always',
      'placement=per-vm',
      'agent.resources.requests.cpu=50m',
      'agent.resources.requests.memory=80Mi',
      'agent.priorityClassName=bmc-critical',
      'agent.nodeSelector.kubernetes\\.io/os=linux',
      'service.type=LoadBalancer',
      'service.annotations.metallb\\.universe\\.tf/address-pool=bmc',
      'controller.logLevel=debug',
    );
    assert.deepEqual(args, [
      'controller',
      '--leader-elect',
      '--placement=per-vm',
      '--metrics-port=8080',
      '--agent-image-pull-policy=Always',
      '--log-level=debug',
      '--agent-requests=cpu=50m,memory=80Mi',
      '--agent-priority-class=bmc-critical',
      '--agent-node-selector=kubernetes.io/os=linux',
      '--service-type=LoadBalancer',
      '--service-annotation=metallb.universe.tf/address-pool=bmc',
    ]);
    const none = await controllerArgs('json:agent.resources={"limits":{}}');
    assert.ok(none.includes('--agent-limits=none'), none.join(' '));
    // and the flags are ones the controller accepts: it gets as far as loading the kubeconfig
    const r = spawnSync(
      process.execPath,
      [join(REPO, 'bin', 'kubevirtbmc.js'), ...args, '--agent-limits=none', '--kubeconfig', '/nonexistent'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.match(r.stderr, /cannot load the kubeconfig/, r.stderr);
  });

  test('controller placement values, the metrics ServiceMonitor and cert-manager Certificates', async () => {
    const objs = await template(
      'controller.priorityClassName=system-cluster-critical',
      'controller.nodeSelector.node-role\\.kubernetes\\.io/control-plane=',
      'controller.replicas=3',
      'metrics.serviceMonitor.enabled=true',
      'tls.certManager.issuerRef.name=lab-ca',
      'tls.certManager.issuerRef.kind=ClusterIssuer',
      'tls.certManager.certificates[0].namespace=lab',
      'tls.certManager.certificates[0].secretName=bmc-tls',
      'tls.certManager.certificates[0].dnsNames[0]=vbmc-vm1-bmc.lab.svc',
    );
    const pod = objs.get('Deployment/kubevirtbmc-system/kubevirtbmc-controller').spec;
    assert.equal(pod.replicas, 3);
    assert.equal(pod.template.spec.priorityClassName, 'system-cluster-critical');
    assert.deepEqual(pod.template.spec.nodeSelector, { 'node-role.kubernetes.io/control-plane': '' });
    const sm = objs.get('ServiceMonitor/kubevirtbmc-system/kubevirtbmc-controller');
    assert.deepEqual(sm.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '30s' }]);
    const svc = objs.get('Service/kubevirtbmc-system/kubevirtbmc-controller-metrics');
    assert.deepEqual(svc.spec.selector, sm.spec.selector.matchLabels);
    const cert = objs.get('Certificate/lab/bmc-tls');
    assert.equal(cert.apiVersion, 'cert-manager.io/v1');
    assert.deepEqual(cert.spec.issuerRef, { name: 'lab-ca', kind: 'ClusterIssuer' });
    assert.deepEqual(cert.spec.dnsNames, ['vbmc-vm1-bmc.lab.svc']);
    assert.equal(cert.spec.secretName, 'bmc-tls');
  });

  test('namespace.create=false installs into an existing namespace', async () => {
    const objs = await template('namespace.create=false', 'namespace.name=infra');
    assert.equal(objs.has('Namespace//infra'), false);
    assert.ok(objs.has('Deployment/infra/kubevirtbmc-controller'));
    const crb = objs.get('ClusterRoleBinding//kubevirtbmc-controller');
    assert.deepEqual(crb.subjects, [
      { kind: 'ServiceAccount', name: 'kubevirtbmc-controller', namespace: 'infra' },
    ]);
  });

  for (const [set, message] of [
    ['placement=everywhere', /placement must be shared or per-vm, not "everywhere"/],
    ['service.type=External', /service.type must be ClusterIP, NodePort or LoadBalancer, not "External"/],
    ['image.pullPolicy=Sometimes', /image.pullPolicy must be Always, IfNotPresent or Never, not "Sometimes"/],
    ['agent.resources.requests.gpu=1', /agent.resources: only cpu and memory can be set, not "gpu"/],
    ['tls.certManager.certificates[0].secretName=x', /tls.certManager.issuerRef.name is required/],
  ] as const) {
    test(`helm template --set ${set} is refused, saying why`, async () => {
      const r = await helm(['template', 'kubevirtbmc', CHART, '--set', set]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
    });
  }
});
