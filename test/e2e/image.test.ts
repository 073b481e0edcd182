/**
 * The image without a Docker engine (scripts/image.ts): the Dockerfile's build steps reproduced in a
 * temporary directory on the image's own Node.js, the files the image would hold checked, and its
 * command line (ENTRYPOINT + CMD, read from the Dockerfile) started as the image's user 65532 with
 * every filesystem read-only: the help, the controller against the real control plane (with its
 * ServiceAccount's token, so deploy/'s RBAC is what it gets) and a standalone agent that curl and
 * ipmitool talk to.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import {
  asImage,
  buildImageTree,
  cannotRunAsImage,
  type ImageTree,
  imageCommand,
  imageNodeVersion,
  installNode,
  REPO,
  readDockerfile,
  treeSize,
} from '../../scripts/image.ts';
import {
  bmcYaml,
  curl,
  freePort,
  ipmitool,
  secretYaml,
  TestCluster,
  vmYaml,
} from '../integration/controller/helpers.ts';
import { missingClients } from '../support/clients.ts';
import { waitFor } from '../support/wait.ts';

const df = readDockerfile();
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; link?: boolean }>;
};
const noRun = cannotRunAsImage();

/** A process started as the image would start it, with its output kept. */
class ImageProcess {
  readonly child: ChildProcess;
  out = '';
  constructor(tree: ImageTree, args: string[], env: Record<string, string>) {
    const c = asImage(tree, args, { env });
    this.child = spawn(c.command, c.args, { env: c.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.out += d;
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.out += d;
    });
  }
  stop(): void {
    // the whole group: sudo/unshare/sh and the node process under them
    if (this.child.exitCode === null && this.child.pid) {
      try {
        process.kill(-this.child.pid, 'SIGTERM');
      } catch {}
    }
  }
}

function runAsImage(tree: ImageTree, args: string[], entrypoint?: string[]) {
  const c = asImage(tree, args, entrypoint ? { entrypoint } : {});
  return spawnSync(c.command, c.args, { env: c.env, encoding: 'utf8', timeout: 60_000 });
}

describe('the image, built and run without a Docker engine', { timeout: 900_000 }, () => {
  let dir = '';
  let tree: ImageTree;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kubevirtbmc-image-'));
    const node = installNode(imageNodeVersion(df));
    tree = buildImageTree(dir, { node });
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('it holds the product only: bin, dist, production dependencies, package.json', () => {
    assert.deepEqual(readdirSync(tree.app).sort(), ['bin', 'dist', 'node_modules', 'package.json']);
    assert.deepEqual(
      tree.copied.sort(),
      ['app/bin', 'app/dist', 'app/node_modules', 'app/package.json'],
      'what the final stage COPYs',
    );
    // our code: compiled JavaScript only, no tests, no sources, no declarations, no source maps
    const ours: string[] = [];
    const walk = (d: string, rel: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
        else ours.push(`${rel}${e.name}`);
      }
    };
    walk(join(tree.app, 'dist'), 'dist/');
    walk(join(tree.app, 'bin'), 'bin/');
    assert.ok(ours.includes('dist/cli/main.js') && ours.includes('bin/kubevirtbmc.js'));
    assert.deepEqual(
      ours.filter((f) => !/\.js$/.test(f) || /\.test\.|(^|\/)(test|bench)\//.test(f)),
      [],
    );
    // dependencies: exactly the production ones of the lockfile
    const installed: string[] = [];
    const scan = (nm: string, prefix: string) => {
      if (!existsSync(nm)) return;
      for (const e of readdirSync(nm, { withFileTypes: true })) {
        if (e.name.startsWith('.')) continue;
        if (e.name.startsWith('@')) {
          for (const s of readdirSync(join(nm, e.name))) {
            installed.push(`${prefix}${e.name}/${s}`);
            scan(join(nm, e.name, s, 'node_modules'), `${prefix}${e.name}/${s}/node_modules/`);
          }
        } else {
          installed.push(`${prefix}${e.name}`);
          scan(join(nm, e.name, 'node_modules'), `${prefix}${e.name}/node_modules/`);
        }
      }
    };
    scan(join(tree.app, 'node_modules'), 'node_modules/');
    for (const p of installed) {
      const entry = lock.packages[p];
      assert.ok(entry, `${p} is not in package-lock.json`);
      assert.notEqual(entry.dev, true, `${p} is a development dependency`);
    }
    for (const d of Object.keys(pkg.devDependencies))
      assert.ok(!installed.includes(`node_modules/${d}`), `devDependency ${d} is in the image`);
    for (const d of Object.keys(pkg.dependencies))
      assert.ok(installed.includes(`node_modules/${d}`), `dependency ${d} is missing`);
    for (const absent of ['@kubevirtbmc/kube-sim', '@marcbachmann/cel-js', 'tsx', 'esbuild', 'typescript'])
      assert.ok(!installed.includes(`node_modules/${absent}`), `${absent} is in the image`);
  });

  test('its size is what docs/release.md states (within 25%)', (t) => {
    const s = treeSize(tree.app);
    const mb = s.bytes / 1e6;
    t.diagnostic(
      `our files: ${mb.toFixed(1)} MB in ${s.files} files, ${(s.gzipBytes / 1e6).toFixed(1)} MB gzip`,
    );
    const doc = readFileSync(join(REPO, 'docs/release.md'), 'utf8');
    const m = /our files: about ([\d.]+) MB/.exec(doc);
    assert.ok(m, 'docs/release.md states "our files: about <n> MB"');
    const stated = Number(m[1]);
    assert.ok(
      Math.abs(stated - mb) / mb <= 0.25,
      `docs say ${stated} MB, the files weigh ${mb.toFixed(1)} MB`,
    );
  });

  describe('started as the image starts it', { skip: noRun }, () => {
    test('the sandbox is what it claims: uid and gid 65532, no groups, nothing writable', () => {
      const probe = `
        const fs = require('node:fs');
        const tries = {};
        for (const p of ['/tmp/probe', process.cwd() + '/probe', '/probe', require('node:os').tmpdir() + '/probe2']) {
          try { fs.writeFileSync(p, 'x'); tries[p] = 'written'; } catch (e) { tries[p] = e.code; }
        }
        console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), version: process.version, tries }));`;
      const r = runAsImage(tree, ['-e', probe], ['node']);
      assert.equal(r.status, 0, r.stderr);
      const o = JSON.parse(r.stdout) as {
        uid: number;
        gid: number;
        groups: number[];
        version: string;
        tries: Record<string, string>;
      };
      const [uid, gid] = imageCommand(df).user.split(':').map(Number);
      assert.equal(o.uid, uid);
      assert.equal(o.gid, gid);
      assert.deepEqual(o.groups, [gid]);
      assert.equal(o.version, `v${imageNodeVersion(df)}`);
      for (const [p, what] of Object.entries(o.tries))
        assert.ok(['EROFS', 'EACCES'].includes(what), `${p}: ${what}`);
      assert.equal(o.tries['/tmp/probe'], 'EROFS', 'even the world-writable /tmp is read-only');
    });

    test("ENTRYPOINT + CMD (the image's default command) prints the help", () => {
      const r = runAsImage(tree, imageCommand(df).cmd);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Usage: kubevirtbmc /m);
      assert.match(r.stdout, /\bcontroller\b/);
      assert.match(r.stdout, /\bagent\b/);
      assert.equal(r.stderr, '');
      const v = runAsImage(tree, ['--version']);
      assert.equal(v.stdout.trim(), pkg.version, v.stderr);
    });

    test('controller --help and agent --help', () => {
      for (const cmd of ['controller', 'agent']) {
        const r = runAsImage(tree, [cmd, '--help']);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^Usage: kubevirtbmc ${cmd} `, 'm'));
      }
    });

    describe('on a cluster', { skip: missingClients('kubectl', 'ipmitool') }, () => {
      let c: TestCluster;
      const procs: ImageProcess[] = [];
      let shared = '';

      before(async () => {
        c = await TestCluster.start();
        shared = mkdtempSync(join(tmpdir(), 'kubevirtbmc-image-run-'));
        spawnSync('chmod', ['755', shared]);
      });
      after(async () => {
        for (const p of procs) p.stop();
        await c?.stop();
        if (shared) rmSync(shared, { recursive: true, force: true });
      });

      /** A file the image's user can read (the test's own files live in 0700 directories). */
      function readable(name: string, content: string): string {
        const p = join(shared, name);
        writeFileSync(p, content, { mode: 0o644 });
        return p;
      }

      test("the controller, with its ServiceAccount's RBAC, gives agents its own Pod's image", async () => {
        // deploy/ without the controller Deployment: the controller runs here, from the image's files
        await c.kubectlOk(['apply', '-f', 'deploy/namespace.yaml']);
        await c.kubectlOk(['apply', '-k', 'deploy/crd/']);
        await c.kubectlOk(['apply', '-k', 'deploy/rbac/']);
        await c.kubectlOk(['apply', '-f', 'deploy/controller/rbac.yaml']);
        // the controller's Pod as its Deployment makes it, with a mirrored image; bound to no
        // node, so nothing runs it: only its spec matters
        const mirror = 'registry.example.test/mirror/kubevirtbmc:9.9.9';
        const deployment = parse(readFileSync(join(REPO, 'deploy/controller/deployment.yaml'), 'utf8'));
        const template = deployment.spec.template;
        for (const ct of template.spec.containers) if (ct.name === 'controller') ct.image = mirror;
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            ...template.metadata,
            name: 'kubevirtbmc-controller-0',
            namespace: deployment.metadata.namespace,
          },
          spec: { ...template.spec, nodeName: 'no-such-node' },
        };
        await c.kubectlOk(['apply', '-f', '-'], JSON.stringify(pod));
        const kubeconfig = readable(
          'controller.kubeconfig',
          await c.sim.serviceAccountKubeconfig('kubevirtbmc-system', 'kubevirtbmc-controller'),
        );
        const metrics = await freePort();
        const ctl = new ImageProcess(
          tree,
          [
            'controller',
            '--kubeconfig',
            kubeconfig,
            '--metrics-port',
            String(metrics),
            '--placement',
            'shared',
          ],
          { POD_NAME: 'kubevirtbmc-controller-0', POD_NAMESPACE: 'kubevirtbmc-system', POD_IP: '' },
        );
        procs.push(ctl);
        await waitFor(() => /controller running/.test(ctl.out) || ctl.child.exitCode !== null, {
          timeoutMs: 60_000,
          intervalMs: 200,
          what: 'the controller to start',
        });
        assert.match(
          ctl.out,
          /"agentImage":"registry\.example\.test\/mirror\/kubevirtbmc:9\.9\.9","agentImageFrom":"pod"/,
          ctl.out,
        );
        await c.kubectlOk(
          ['apply', '-f', '-'],
          [
            vmYaml('default', 'vm1'),
            secretYaml('default', 'vm1-auth', 'admin', 'image-pw'),
            bmcYaml('default', 'vm1-bmc', 'vm1', 'vm1-auth'),
          ].join('---\n'),
        );
        const d = await waitFor(async () => c.tryGet(['-n', 'default', 'deployment', 'kubevirtbmc-agent']), {
          timeoutMs: 60_000,
          intervalMs: 250,
          what: `the agent Deployment\n${ctl.out}`,
        });
        const agent = d.spec.template.spec.containers[0];
        assert.equal(agent.image, mirror);
        assert.equal(agent.securityContext.readOnlyRootFilesystem, true);
        assert.equal(d.spec.template.spec.securityContext.runAsUser, 65532);
        assert.doesNotMatch(ctl.out, /cannot read the controller Pod/);
        assert.doesNotMatch(ctl.out, /EROFS|read-only file system/i);
        assert.equal(ctl.child.exitCode, null, ctl.out);
      });

      test('a standalone agent serves curl and ipmitool', async () => {
        await c.kubectlOk(['apply', '-f', '-'], vmYaml('default', 'vm2'));
        const [ip, rf, mp] = [await freePort('udp'), await freePort(), await freePort()];
        const kubeconfig = readable(
          'admin.kubeconfig',
          (await c.kubectlOk(['config', 'view', '--raw', '--flatten', '--minify'])).toString(),
        );
        const pw = readable('pw', 'agent-image-pw\n');
        mkdirSync(shared, { recursive: true });
        const agent = new ImageProcess(
          tree,
          [
            'agent',
            '--vm',
            'default/vm2',
            '--kubeconfig',
            kubeconfig,
            '--username',
            'admin',
            '--password-file',
            pw,
            '--ipmi-port',
            String(ip),
            '--redfish-port',
            String(rf),
            '--metrics-port',
            String(mp),
          ],
          { POD_IP: '' },
        );
        procs.push(agent);
        await waitFor(
          async () =>
            agent.child.exitCode !== null ||
            (await fetch(`http://127.0.0.1:${mp}/readyz`).catch(() => null))?.status === 200,
          { timeoutMs: 60_000, intervalMs: 250, what: 'the agent to be ready' },
        );
        assert.equal(agent.child.exitCode, null, agent.out);
        const r = await curl(`http://127.0.0.1:${rf}/redfish/v1/Systems/1`, 'admin', 'agent-image-pw');
        assert.equal(r.stdout.trim().split('\n').at(-1), '200', r.stderr + agent.out);
        assert.match(r.stdout, /"PowerState":\s*"Off"/);
        const st = await ipmitool(`127.0.0.1:${ip}`, 'admin', 'agent-image-pw', 'power', 'status');
        assert.equal(st.stdout.trim(), 'Chassis Power is off', st.stderr + agent.out);
        assert.doesNotMatch(agent.out, /EROFS|read-only file system/i);
        assert.ok(!agent.out.includes('agent-image-pw'), 'the password never reaches the log');
      });
    });
  });
});
