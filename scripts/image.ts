/**
 * The container image without a Docker engine: reads the Dockerfile, reproduces its build steps in
 * a directory (the build stage's COPY and RUN, then the final stage's COPY), installs the image's
 * Node.js (the npm registry serves each release as `node-linux-<arch>@<version>`) and starts the
 * image's command line as its user with every filesystem read-only, as a Pod with
 * readOnlyRootFilesystem would. test/e2e/image.test.ts and .ci/run use it.
 *
 *   node --import tsx scripts/image.ts node      install the image's Node.js, print its bin/node
 *   node --import tsx scripts/image.ts tree DIR  build the image's files into DIR (DIR/image/app…)
 *   node --import tsx scripts/image.ts size      build into a temporary directory, print the sizes
 *
 * Only the Dockerfile instructions the project uses are understood (ARG, FROM … AS, WORKDIR, ENV,
 * COPY [--from=stage], RUN, USER, EXPOSE, ENTRYPOINT and CMD in JSON form); any other is an error,
 * so the Dockerfile cannot drift away from what is tested here.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Instruction {
  op: string;
  args: string;
  line: number;
}
export interface Stage {
  from: string;
  name: string | null;
  instructions: Instruction[];
}
export interface Dockerfile {
  args: Record<string, string>;
  stages: Stage[];
}

const KNOWN = new Set([
  'ARG',
  'FROM',
  'WORKDIR',
  'ENV',
  'COPY',
  'RUN',
  'USER',
  'EXPOSE',
  'ENTRYPOINT',
  'CMD',
]);

/** Instructions by stage, with continuation lines joined and `${ARG}`s of global ARGs expanded. */
export function parseDockerfile(text: string): Dockerfile {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length)
      line = `${line.slice(0, -1).trimEnd()} ${lines[++i]!.trim()}`;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile:${start}: cannot read "${line}"`);
    const op = m[1]!.toUpperCase();
    if (!KNOWN.has(op)) throw new Error(`Dockerfile:${start}: ${op} is not reproduced by scripts/image.ts`);
    const expanded = m[2]!.replace(/\$\{(\w+)\}/g, (_, k: string) => {
      if (!(k in args)) throw new Error(`Dockerfile:${start}: \${${k}} is not a global ARG with a default`);
      return args[k]!;
    });
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = expanded.split('=');
      if (v === undefined) throw new Error(`Dockerfile:${start}: ARG ${k} needs a default`);
      args[k!] = v;
      continue;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(expanded);
      if (!f) throw new Error(`Dockerfile:${start}: cannot read FROM ${expanded}`);
      stages.push({ from: f[1]!, name: f[2] ?? null, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile:${start}: ${op} before FROM`);
    stage.instructions.push({ op, args: expanded, line: start });
  }
  if (stages.length === 0) throw new Error('Dockerfile: no FROM');
  return { args, stages };
}

export function readDockerfile(repo = REPO): Dockerfile {
  return parseDockerfile(readFileSync(join(repo, 'Dockerfile'), 'utf8'));
}

function jsonArray(ins: Instruction): string[] {
  const v = JSON.parse(ins.args) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Error(`Dockerfile:${ins.line}: ${ins.op} must be a JSON array of strings`);
  return v;
}

function last(stage: Stage, op: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.op === op).at(-1);
}

/** What the final stage runs: ENTRYPOINT + CMD, as which user, from which directory. */
export function imageCommand(df: Dockerfile): {
  entrypoint: string[];
  cmd: string[];
  user: string;
  workdir: string;
  env: Record<string, string>;
} {
  const final = df.stages.at(-1)!;
  const ep = last(final, 'ENTRYPOINT');
  const cmd = last(final, 'CMD');
  const env: Record<string, string> = {};
  for (const i of final.instructions.filter((x) => x.op === 'ENV')) {
    const [k, ...v] = i.args.split('=');
    env[k!] = v.join('=');
  }
  return {
    entrypoint: ep ? jsonArray(ep) : [],
    cmd: cmd ? jsonArray(cmd) : [],
    user: last(final, 'USER')?.args ?? 'root',
    workdir: last(final, 'WORKDIR')?.args ?? '/',
    env,
  };
}

/** The Node.js version of the final stage's base image (`node:<version>-<variant>`). */
export function imageNodeVersion(df: Dockerfile): string {
  const m = /^node:(\d+\.\d+\.\d+)(-[\w.-]+)?$/.exec(df.stages.at(-1)!.from);
  if (!m) throw new Error(`the final stage's base ${df.stages.at(-1)!.from} is not node:<x.y.z>-<variant>`);
  return m[1]!;
}

export interface Copy {
  stage: number;
  from: string | null;
  sources: string[];
  dest: string;
  line: number;
}

/** Every COPY: its sources (context paths, or paths in another stage) and destination. */
export function copies(df: Dockerfile): Copy[] {
  const out: Copy[] = [];
  df.stages.forEach((s, stage) => {
    for (const i of s.instructions.filter((x) => x.op === 'COPY')) {
      const words = i.args.split(/\s+/);
      let from: string | null = null;
      while (words[0]?.startsWith('--')) {
        const flag = words.shift()!;
        if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
        else throw new Error(`Dockerfile:${i.line}: COPY ${flag} is not reproduced`);
      }
      if (words.length < 2) throw new Error(`Dockerfile:${i.line}: COPY needs a source and a destination`);
      out.push({ stage, from, sources: words.slice(0, -1), dest: words.at(-1)!, line: i.line });
    }
  });
  return out;
}

/**
 * Whether a context path is left out by .dockerignore: patterns are matched in order against the
 * path and each of its parent directories (`*` and `?` within one segment, `**` across segments),
 * the last matching pattern wins and `!` re-includes.
 */
export function dockerignored(path: string, patterns: readonly string[]): boolean {
  const toRe = (p: string) =>
    new RegExp(
      `^${p
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '.*'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')}$`,
    );
  const parts = path.split('/').filter(Boolean);
  let ignored = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const p = (neg ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = toRe(p);
    for (let n = 1; n <= parts.length; n++) {
      if (re.test(parts.slice(0, n).join('/'))) {
        ignored = !neg;
        break;
      }
    }
  }
  return ignored;
}

export function dockerignorePatterns(repo = REPO): string[] {
  const f = join(repo, '.dockerignore');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Every file of the build context (the repository minus .dockerignore), relative paths. */
export function contextFiles(repo = REPO): string[] {
  const patterns = dockerignorePatterns(repo);
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(repo, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        // a directory left out may still hold a re-included path: only skip .git and node_modules
        if (p === '.git' || (dockerignored(p, patterns) && !patterns.some((x) => x.startsWith(`!${p}/`))))
          continue;
        walk(p);
      } else if (!dockerignored(p, patterns)) out.push(p);
    }
  };
  walk('');
  return out.sort();
}

const NPM_ARCH: Partial<Record<string, string>> = { x64: 'x64', arm64: 'arm64' };

/**
 * Installs Node.js `version` (the npm package node-linux-<arch>) into
 * ~/.cache/kubevirtbmc/node-<version> once, and returns the path of its bin/node.
 */
export function installNode(version: string, cache = join(homedir(), '.cache', 'kubevirtbmc')): string {
  const dir = join(cache, `node-${version}`);
  const bin = join(dir, 'bin', 'node');
  if (existsSync(bin)) return bin;
  const arch = NPM_ARCH[process.arch];
  if (process.platform !== 'linux' || !arch)
    throw new Error(`no node-linux package for ${process.platform}/${process.arch}`);
  mkdirSync(cache, { recursive: true });
  const tmp = mkdtempSync(join(cache, `.node-${version}-`));
  try {
    const pack = spawnSync(
      'npm',
      ['pack', `node-linux-${arch}@${version}`, '--pack-destination', tmp, '--silent'],
      {
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
    if (pack.status !== 0) throw new Error(`npm pack node-linux-${arch}@${version} failed: ${pack.stderr}`);
    const tgz = join(tmp, pack.stdout.trim().split('\n').at(-1)!);
    const x = spawnSync('tar', ['xzf', tgz, '-C', tmp, 'package/bin/node', 'package/LICENSE'], {
      encoding: 'utf8',
    });
    if (x.status !== 0) throw new Error(`cannot unpack ${tgz}: ${x.stderr}`);
    const v = spawnSync(join(tmp, 'package/bin/node'), ['--version'], { encoding: 'utf8' });
    if (v.stdout.trim() !== `v${version}`)
      throw new Error(`the unpacked node says ${v.stdout.trim()}, not v${version}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

export interface ImageTree {
  /** The image's root filesystem as far as we add to it (app, plus the Node.js binary). */
  root: string;
  /** The final stage's WORKDIR inside `root`. */
  app: string;
  /** Our files: what the final stage COPYs. */
  copied: string[];
}

function inside(root: string, abs: string): string {
  return join(root, abs);
}

/**
 * Reproduces the Dockerfile in `out`: each stage gets out/stage-<n> as its filesystem; COPY from
 * the build context honours .dockerignore (an excluded source fails, as `docker build` would); RUN
 * runs under `sh -c` with `node` on PATH; the final stage's filesystem gets the Node.js binary at
 * /usr/local/bin/node, where the node images have it.
 */
export function buildImageTree(
  out: string,
  opts: { node: string; repo?: string; log?: (s: string) => void },
): ImageTree {
  const repo = opts.repo ?? REPO;
  const df = readDockerfile(repo);
  const patterns = dockerignorePatterns(repo);
  const stageRoots = df.stages.map((_, n) => join(out, `stage-${n}`));
  const copyList = copies(df);
  const copied: string[] = [];
  df.stages.forEach((stage, n) => {
    const root = stageRoots[n]!;
    mkdirSync(root, { recursive: true });
    let workdir = '/';
    for (const ins of stage.instructions) {
      if (ins.op === 'WORKDIR') {
        workdir = isAbsolute(ins.args) ? ins.args : join(workdir, ins.args);
        mkdirSync(inside(root, workdir), { recursive: true });
      } else if (ins.op === 'COPY') {
        const c = copyList.find((x) => x.line === ins.line)!;
        const destAbs = c.dest.startsWith('/') ? c.dest : join(workdir, c.dest);
        const dest = inside(root, destAbs);
        const many = c.sources.length > 1 || c.dest.endsWith('/');
        for (const src of c.sources) {
          let from: string;
          if (c.from !== null) {
            const k = df.stages.findIndex((s, idx) => s.name === c.from || String(idx) === c.from);
            if (k < 0 || k >= n) throw new Error(`Dockerfile:${c.line}: no earlier stage ${c.from}`);
            from = inside(stageRoots[k]!, src);
          } else {
            if (dockerignored(src, patterns))
              throw new Error(`Dockerfile:${c.line}: ${src} is excluded by .dockerignore`);
            from = join(repo, src);
          }
          if (!existsSync(from)) throw new Error(`Dockerfile:${c.line}: COPY source ${src} does not exist`);
          const target = many ? join(dest, src.split('/').at(-1)!) : dest;
          mkdirSync(dirname(target), { recursive: true });
          cpSync(from, target, {
            recursive: true,
            verbatimSymlinks: true,
            // the context never carries what .dockerignore leaves out
            filter: (p) => c.from !== null || !dockerignored(relative(repo, p), patterns),
          });
          if (n === df.stages.length - 1) copied.push(relative(root, target));
        }
      } else if (ins.op === 'RUN') {
        opts.log?.(`RUN ${ins.args}`);
        const r = spawnSync('sh', ['-c', ins.args], {
          cwd: inside(root, workdir),
          encoding: 'utf8',
          timeout: 600_000,
          env: {
            ...process.env,
            PATH: `${dirname(opts.node)}:${process.env.PATH}`,
            npm_config_prefer_offline: 'true',
          },
        });
        if (r.status !== 0)
          throw new Error(`Dockerfile:${ins.line}: RUN ${ins.args} failed:\n${r.stdout}\n${r.stderr}`);
      }
    }
  });
  const final = stageRoots.at(-1)!;
  mkdirSync(join(final, 'usr/local/bin'), { recursive: true });
  cpSync(opts.node, join(final, 'usr/local/bin/node'));
  // mkdtemp makes 0700 directories: let the image's user reach the tree
  for (let d = final; d.startsWith(out) || d === out; d = dirname(d)) {
    chmodSync(d, 0o755);
    if (d === out) break;
  }
  return { root: final, app: inside(final, imageCommand(df).workdir), copied };
}

/** Bytes, file count and gzip-compressed bytes (about what a registry layer would weigh) of `dir`. */
export function treeSize(dir: string): { bytes: number; files: number; gzipBytes: number } {
  let bytes = 0;
  let files = 0;
  const chunks: Buffer[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const b = readFileSync(p);
        bytes += b.length;
        files++;
        chunks.push(b);
      } else if (lstatSync(p).isSymbolicLink()) files++;
    }
  };
  if (lstatSync(dir).isFile()) {
    const b = readFileSync(dir);
    bytes += b.length;
    files++;
    chunks.push(b);
  } else walk(dir);
  return { bytes, files, gzipBytes: gzipSync(Buffer.concat(chunks), { level: 6 }).length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [what, arg] = process.argv.slice(2);
  const df = readDockerfile();
  if (what === 'node') {
    process.stdout.write(`${installNode(imageNodeVersion(df))}\n`);
  } else if (what === 'tree' && arg) {
    const t = buildImageTree(resolve(arg), {
      node: installNode(imageNodeVersion(df)),
      log: (s) => process.stderr.write(`${s}\n`),
    });
    process.stdout.write(`${t.app}\n`);
  } else if (what === 'size') {
    const dir = mkdtempSync(join(tmpdir(), 'kubevirtbmc-image-'));
    try {
      const t = buildImageTree(dir, { node: installNode(imageNodeVersion(df)) });
      const mb = (n: number) => (n / 1e6).toFixed(1);
      let total = { bytes: 0, files: 0, gzipBytes: 0 };
      for (const c of t.copied) {
        const s = treeSize(join(t.root, c));
        process.stdout.write(`${c}\t${mb(s.bytes)} MB\t${s.files} files\t${mb(s.gzipBytes)} MB gzip\n`);
        total = {
          bytes: total.bytes + s.bytes,
          files: total.files + s.files,
          gzipBytes: total.gzipBytes + s.gzipBytes,
        };
      }
      process.stdout.write(
        `our layers\t${mb(total.bytes)} MB\t${total.files} files\t${mb(total.gzipBytes)} MB gzip\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    process.stderr.write('usage: node --import tsx scripts/image.ts node | tree DIR | size\n');
    process.exitCode = 2;
  }
}

/**
 * How to start `args` (what follows ENTRYPOINT, i.e. CMD's place) as the image would: as USER,
 * from WORKDIR, with the image's ENV, every filesystem but /proc, /sys and /dev remounted read-only
 * in a private mount namespace (readOnlyRootFilesystem), no new privileges (allowPrivilegeEscalation:
 * false). `node` and paths of the image resolve inside `tree`. Needs root, or sudo without a password.
 */
export function asImage(
  tree: ImageTree,
  args: readonly string[],
  opts: { env?: Record<string, string>; entrypoint?: string[]; repo?: string } = {},
): { command: string; args: string[]; env: Record<string, string> } {
  const img = imageCommand(readDockerfile(opts.repo ?? REPO));
  const m = /^(\d+):(\d+)$/.exec(img.user);
  if (!m) throw new Error(`the image's USER ${img.user} is not numeric uid:gid`);
  const argv = [...(opts.entrypoint ?? img.entrypoint), ...args].map((a, i) => {
    if (i === 0 && !a.includes('/')) return join(tree.root, 'usr/local/bin', a);
    return a.startsWith('/') && existsSync(join(tree.root, a)) ? join(tree.root, a) : a;
  });
  const fullEnv = {
    PATH: `${join(tree.root, 'usr/local/bin')}:/usr/local/bin:/usr/bin:/bin`,
    HOME: '/',
    ...img.env,
    ...opts.env,
  };
  const script = [
    'set -e',
    "awk '{print $5}' /proc/self/mountinfo | while read -r mp; do",
    '  case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;; *) mount -o remount,bind,ro "$mp" || exit 1 ;; esac',
    'done',
    'cd "$0"',
    `exec setpriv --reuid ${m[1]} --regid ${m[2]} --clear-groups --no-new-privs -- "$@"`,
  ].join('\n');
  const inner = ['unshare', '-m', '--propagation', 'private', '--', 'sh', '-c', script, tree.app, ...argv];
  if (process.getuid?.() === 0) return { command: inner[0]!, args: inner.slice(1), env: fullEnv };
  const envArgs = Object.entries(fullEnv).map(([k, v]) => `${k}=${v}`);
  return { command: 'sudo', args: ['-n', 'env', '-i', ...envArgs, ...inner], env: {} };
}

/** Whether asImage can work here: root, or sudo without a password; with unshare and setpriv. */
export function cannotRunAsImage(): string | false {
  for (const tool of ['unshare', 'setpriv'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  if (process.getuid?.() === 0) return false;
  return spawnSync('sudo', ['-n', 'true']).status === 0 ? false : 'needs root or sudo without a password';
}
