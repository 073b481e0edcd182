/**
 * The image as files say it: one image name (package.json's config.image) that deploy/, the
 * controller's default agent image and the release workflow all use; a build context that carries
 * what the Dockerfile copies and nothing of the tests, benchmarks or the simulator; a supported
 * Node.js LTS; the same non-root user and read-only root filesystem in the Dockerfile, the controller
 * Deployment and the agent pods the controller builds. test/e2e/image.test.ts builds and runs it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import {
  contextFiles,
  copies,
  dockerignored,
  dockerignorePatterns,
  imageCommand,
  imageNodeVersion,
  parseDockerfile,
  REPO,
  readDockerfile,
} from '../../scripts/image.ts';
import { chooseAgentImage, controllerImageOf, packageImage } from '../../src/cli/agent-image.ts';
import { perVmDeployment, sharedDeployment } from '../../src/controller/builders.ts';
import type { VirtualMachineBMC } from '../../src/controller/types.ts';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  config?: { image?: string };
  devDependencies: Record<string, string>;
};
const NAME = pkg.config?.image ?? '(package.json has no config.image)';
const IMAGE = `${NAME}:${pkg.version}`;
const df = readDockerfile();

// biome-ignore lint/suspicious/noExplicitAny: YAML documents
type Doc = any;
function controllerDeployment(): Doc {
  const docs = parseAllDocuments(readFileSync(join(REPO, 'deploy/controller/deployment.yaml'), 'utf8')).map(
    (d) => d.toJSON() as Doc,
  );
  return docs.find((d) => d?.kind === 'Deployment' && d.metadata.name === 'kubevirtbmc-controller');
}

describe('one image name', () => {
  test("package.json's config.image is ghcr.io/<owner>/kubevirtbmc under an owner that is not upstream's", () => {
    const m = /^ghcr\.io\/([a-z0-9][a-z0-9-]*)\/kubevirtbmc$/.exec(NAME);
    assert.ok(m, `config.image ${NAME} is not ghcr.io/<owner>/kubevirtbmc`);
    assert.ok(!['kubevirtbmc', 'starbops'].includes(m[1]!), `${m[1]} is upstream KubeVirtBMC's namespace`);
  });

  test('the controller Deployment runs it, tagged with the version, and passes no --agent-image', () => {
    const c = controllerDeployment().spec.template.spec.containers.find(
      (x: { name: string }) => x.name === 'controller',
    );
    assert.equal(c.image, IMAGE);
    assert.ok(!c.args.some((a: string) => a.startsWith('--agent-image')), c.args.join(' '));
    assert.ok(!(c.env ?? []).some((e: { name: string }) => e.name === 'KUBEVIRTBMC_AGENT_IMAGE'));
    // what the controller needs to find its own Pod
    const env = Object.fromEntries(c.env.map((e: Doc) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    assert.equal(env.POD_NAME, 'metadata.name');
    assert.equal(env.POD_NAMESPACE, 'metadata.namespace');
  });

  test('the controller may get pods in its own namespace, and nothing more from that Role', () => {
    const docs = parseAllDocuments(readFileSync(join(REPO, 'deploy/controller/rbac.yaml'), 'utf8')).map(
      (d) => d.toJSON() as Doc,
    );
    const role = docs.find((d) => d.kind === 'Role');
    assert.equal(role.metadata.namespace, controllerDeployment().metadata.namespace);
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
    const binding = docs.find((d) => d.kind === 'RoleBinding');
    assert.deepEqual(binding.subjects, [
      {
        kind: 'ServiceAccount',
        name: controllerDeployment().spec.template.spec.serviceAccountName,
        namespace: role.metadata.namespace,
      },
    ]);
    const k = parse(readFileSync(join(REPO, 'deploy/controller/kustomization.yaml'), 'utf8'));
    assert.ok(k.resources.includes('rbac.yaml'));
  });

  test("the controller's fallback agent image is the same name and version", () => {
    assert.equal(packageImage(), IMAGE);
  });

  test('no shipped file names upstream images, and every ghcr.io/<x>/kubevirtbmc is the one name', () => {
    const roots = ['Dockerfile', 'README.md', 'deploy', 'docs', 'src', '.github', 'charts'];
    const bad: string[] = [];
    const walk = (rel: string) => {
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(join(REPO, rel));
      } catch {
        return;
      }
      if (st.isDirectory()) {
        for (const e of readdirSync(join(REPO, rel))) walk(`${rel}/${e}`);
        return;
      }
      if (!/\.(md|ya?ml|ts|tpl|json|txt)$|Dockerfile$/.test(rel)) return;
      const text = readFileSync(join(REPO, rel), 'utf8');
      for (const m of text.matchAll(/ghcr\.io\/([A-Za-z0-9_<>${}.-]+)\/kubevirtbmc\b/g)) {
        const owner = m[1]!;
        if (/[<$]/.test(owner)) continue; // a placeholder: ghcr.io/<owner>/kubevirtbmc, ${owner}
        if (`ghcr.io/${owner}/kubevirtbmc` !== NAME) bad.push(`${rel}: ${m[0]}`);
      }
    };
    for (const r of roots) walk(r);
    assert.deepEqual(bad, []);
  });
});

describe('the agent image the controller picks', () => {
  const fallback = 'ghcr.io/ours/kubevirtbmc:1.2.3';
  const pod = {
    spec: {
      containers: [
        { name: 'sidecar', image: 'example.test/proxy:1' },
        { name: 'controller', image: 'mirror.example.test/team/kubevirtbmc:1.2.3' },
      ],
    },
  };
  const inPod = { POD_NAME: 'kubevirtbmc-controller-abc', POD_NAMESPACE: 'kubevirtbmc-system' };

  test("--agent-image, then $KUBEVIRTBMC_AGENT_IMAGE, then the controller Pod's image, then the published one", async () => {
    const readPod = async () => pod;
    assert.deepEqual(
      await chooseAgentImage({
        flag: 'a:1',
        env: { ...inPod, KUBEVIRTBMC_AGENT_IMAGE: 'b:1' },
        readPod,
        fallback,
      }),
      {
        image: 'a:1',
        source: 'flag',
      },
    );
    assert.deepEqual(
      await chooseAgentImage({ env: { ...inPod, KUBEVIRTBMC_AGENT_IMAGE: 'b:1' }, readPod, fallback }),
      {
        image: 'b:1',
        source: 'env',
      },
    );
    assert.deepEqual(await chooseAgentImage({ env: inPod, readPod, fallback }), {
      image: 'mirror.example.test/team/kubevirtbmc:1.2.3',
      source: 'pod',
    });
    let read = false;
    const notInPod = await chooseAgentImage({
      env: {},
      readPod: async () => {
        read = true;
        return pod;
      },
      fallback,
    });
    assert.deepEqual(notInPod, { image: fallback, source: 'package' });
    assert.equal(read, false, 'outside a Pod, no Pod is read');
  });

  test('a Pod that cannot be read (RBAC) gives the published image and says why', async () => {
    const r = await chooseAgentImage({
      env: inPod,
      readPod: async () => {
        throw new Error('pods "kubevirtbmc-controller-abc" is forbidden');
      },
      fallback,
    });
    assert.equal(r.image, fallback);
    assert.equal(r.source, 'package');
    assert.match(r.podError ?? '', /forbidden/);
  });

  test("the Pod's only container counts as the controller; several without one named controller do not", () => {
    assert.equal(controllerImageOf({ spec: { containers: [{ name: 'main', image: 'x:1' }] } }), 'x:1');
    assert.equal(
      controllerImageOf({
        spec: {
          containers: [
            { name: 'a', image: 'x:1' },
            { name: 'b', image: 'y:1' },
          ],
        },
      }),
      null,
    );
  });
});

describe('Dockerfile and build context', () => {
  test('every stage is on the same supported Node.js LTS (22 or 24), pinned to a release', () => {
    const v = imageNodeVersion(df);
    assert.ok(['22', '24'].includes(v.split('.')[0]!), `Node.js ${v}`);
    for (const s of df.stages)
      assert.match(s.from, new RegExp(`^node:${v.replace(/\./g, '\\.')}-[a-z]+-slim$`));
  });

  test('ENTRYPOINT runs the binary with the image Node.js; the user is 65532:65532', () => {
    const c = imageCommand(df);
    assert.deepEqual(c.entrypoint, ['node', '/app/bin/kubevirtbmc.js']);
    assert.equal(c.user, '65532:65532');
    assert.equal(c.workdir, '/app');
  });

  test('every COPY from the build context names files the context carries', () => {
    const files = contextFiles();
    for (const c of copies(df).filter((x) => x.from === null))
      for (const src of c.sources)
        assert.ok(
          files.some((f) => f === src || f.startsWith(`${src}/`)),
          `Dockerfile:${c.line} COPY ${src}: not in the build context (.dockerignore?)`,
        );
  });

  test('the context leaves out tests, benchmarks, the simulator, docs, deploy/ and local state', () => {
    const files = contextFiles();
    assert.ok(files.length > 50, `${files.length} files`);
    const leaked = files.filter((f) =>
      /^(test|bench|packages|docs|deploy|node_modules|dist|coverage|tools|scripts|\.git|\.ci|\.github|\.tmp)(\/|$)/.test(
        f,
      ),
    );
    assert.deepEqual(leaked, []);
    assert.deepEqual(
      files.filter((f) => /\.test\.[cm]?[jt]s$/.test(f)),
      [],
    );
    const top = [...new Set(files.map((f) => f.split('/')[0]))].sort();
    assert.deepEqual(top, [
      'bin',
      'package-lock.json',
      'package.json',
      'src',
      'tsconfig.build.json',
      'tsconfig.json',
    ]);
  });

  test('.dockerignore is read the way Docker reads it: last match wins, ! re-includes, parents count', () => {
    const p = ['*', '!src', 'src/secret', '**/*.log'];
    assert.equal(dockerignored('test/unit/x.test.ts', p), true);
    assert.equal(dockerignored('src/cli/main.ts', p), false);
    assert.equal(dockerignored('src/secret/key.pem', p), true);
    assert.equal(dockerignored('src/cli/debug.log', p), true);
    assert.ok(dockerignorePatterns().includes('*'), 'the context is an allow-list');
  });

  test('instructions scripts/image.ts cannot reproduce are refused, not skipped', () => {
    assert.throws(
      () => parseDockerfile('FROM node:24.1.0-trixie-slim\nADD https://x /y\n'),
      /ADD is not reproduced/,
    );
    assert.throws(() => parseDockerfile(`FROM node:\${V}-slim\n`), /not a global ARG/);
  });
});

describe('non-root, read-only root filesystem', () => {
  const [uid, gid] = imageCommand(df).user.split(':').map(Number);

  test('the controller Deployment: runAsNonRoot as the image user, readOnlyRootFilesystem, no escalation', () => {
    const spec = controllerDeployment().spec.template.spec;
    assert.equal(spec.securityContext.runAsNonRoot, true);
    assert.equal(spec.securityContext.runAsUser, uid);
    assert.equal(spec.securityContext.runAsGroup, gid);
    const c = spec.containers.find((x: { name: string }) => x.name === 'controller');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  });

  test('agent pods (shared and per-vm) the same, with no writable volume', () => {
    const bmc: VirtualMachineBMC = {
      apiVersion: 'bmc.kubevirt.io/v1beta1',
      kind: 'VirtualMachineBMC',
      metadata: { name: 'b', namespace: 'ns', uid: 'u-1' },
      spec: { virtualMachineRef: { name: 'vm' }, authSecretRef: { name: 's' } },
    };
    const settings = { image: IMAGE };
    for (const d of [
      perVmDeployment(bmc, 1, settings),
      sharedDeployment('ns', [bmc], 0, 1, settings),
    ] as Doc[]) {
      const spec = d.spec.template.spec;
      assert.equal(spec.securityContext.runAsNonRoot, true);
      assert.equal(spec.securityContext.runAsUser, uid);
      assert.equal(spec.securityContext.runAsGroup, gid);
      assert.equal(spec.volumes, undefined, 'no volume: the agent writes nothing');
      const c = spec.containers[0];
      assert.equal(c.image, IMAGE);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    }
  });
});

describe('release workflow', () => {
  /** A GitHub Actions expression as the workflow spells it. */
  const gh = (e: string) => `\${{ ${e} }}`;
  const wf = parse(readFileSync(join(REPO, '.github/workflows/release.yml'), 'utf8')) as Doc;
  const steps = (job: string): Doc[] => wf.jobs[job].steps;
  const uses = (job: string, action: string): Doc => steps(job).find((s) => s.uses?.startsWith(`${action}@`));

  test('runs on version tags only', () => {
    assert.deepEqual(Object.keys(wf.on), ['push']);
    assert.deepEqual(wf.on.push.tags, ['v*']);
    assert.equal(wf.on.push.branches, undefined);
  });

  test('tests with .ci/run before anything is published', () => {
    assert.ok(steps('test').some((s) => /^\.ci\/run\b/.test(s.run ?? '')));
    assert.equal(wf.jobs.image.needs, 'test');
    assert.equal(wf.jobs.chart.needs, 'image');
  });

  test('builds linux/amd64 and linux/arm64 with provenance and an SBOM, and pushes to ghcr with GITHUB_TOKEN', () => {
    assert.ok(uses('image', 'docker/setup-qemu-action'));
    assert.ok(uses('image', 'docker/setup-buildx-action'));
    const b = uses('image', 'docker/build-push-action');
    assert.deepEqual(b.with.platforms.split(',').sort(), ['linux/amd64', 'linux/arm64']);
    assert.equal(b.with.provenance, true);
    assert.equal(b.with.sbom, true);
    assert.equal(b.with.push, true);
    const login = uses('image', 'docker/login-action');
    assert.equal(login.with.registry, 'ghcr.io');
    assert.equal(login.with.password, gh('secrets.GITHUB_TOKEN'));
    assert.deepEqual(wf.jobs.image.permissions, {
      contents: 'read',
      packages: 'write',
      'id-token': 'write',
      attestations: 'write',
    });
    assert.deepEqual(wf.permissions, { contents: 'read' });
  });

  test("the image's name and tag come from package.json (the one place), checked against the owner", () => {
    const meta = steps('image').find((s) => s.id === 'meta');
    assert.match(meta.run, /require\('\.\/package\.json'\)\.config\.image/);
    assert.match(meta.run, /require\('\.\/package\.json'\)\.version/);
    assert.match(meta.run, /ghcr\.io\/\$owner\/kubevirtbmc/);
    assert.equal(
      uses('image', 'docker/build-push-action').with.tags,
      `${gh('steps.meta.outputs.image')}:${gh('steps.meta.outputs.version')}`,
    );
  });

  test('packages deploy/chart and pushes it to oci://ghcr.io/<owner>/charts', () => {
    const run = steps('chart')
      .map((s) => s.run ?? '')
      .join('\n');
    assert.match(run, /helm package deploy\/chart\b/);
    assert.match(run, /helm push "\$chart" "oci:\/\/ghcr\.io\/\$owner\/charts"/);
    assert.doesNotMatch(run, /\$\{\{\s*secrets/, 'secrets reach scripts through env, not inline');
  });
});
