/**
 * Static checks of the container files, since no container engine runs on the
 * development machines (and hadolint is not installed): the Dockerfile's
 * essential properties, and compose.yaml referring only to files that exist
 * (or that the README tells the operator to create) and to settings
 * Gatehouse knows, in a combination production mode accepts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadConfig, settings } from '../../src/config/index.js';

const root = new URL('../..', import.meta.url).pathname;
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Array<{ op: string; args: string }>;
}

/** Dockerfile → stages of instructions (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (!op || rest === undefined) throw new Error(`unparsable Dockerfile line: ${line}`);
    const upper = op.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args[k!] = v ?? '';
    } else if (upper === 'FROM') {
      const [, image, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      stages.push({ from: image!.replace(/\$\{(\w+)\}/g, (_m, k: string) => args[k] ?? ''), name, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ op: upper, args: rest });
    }
  }
  return { args, stages };
}

describe('docker/Dockerfile', () => {
  const { stages } = parseDockerfile(read('docker/Dockerfile'));
  const final = stages.at(-1)!;
  const all = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op);

  it('is a multi-stage build on an official Node LTS image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.from).toMatch(/^node:(20|22|24)(\.\d+)*-(bookworm|bullseye|trixie)(-slim)?$/);
  });

  it('builds dist with the dev dependencies in an earlier stage, and ships production dependencies only', () => {
    const build = stages.find((s) => all(s, 'RUN').some((r) => /npm run build|tsc\b/.test(r.args)));
    expect(build, 'a stage that compiles TypeScript').toBeDefined();
    expect(build).not.toBe(final);
    // The final stage installs nothing itself; its node_modules come from a stage that omitted dev dependencies.
    expect(all(final, 'RUN').filter((r) => /npm (ci|install|i)\b/.test(r.args))).toEqual([]);
    const copiedModules = all(final, 'COPY').filter((c) => /node_modules/.test(c.args));
    expect(copiedModules).toHaveLength(1);
    const source = /--from=(\S+)/.exec(copiedModules[0]!.args)?.[1];
    const deps = stages.find((s) => s.name === source);
    expect(deps, `stage ${source}`).toBeDefined();
    const installs = all(deps!, 'RUN').filter((r) => /npm (ci|install)\b/.test(r.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const install of installs) expect(install.args).toMatch(/--omit=dev|--production/);
    // Sources and tests never reach the image: only what `node dist/main.js` reads.
    for (const copy of all(final, 'COPY').filter((c) => !c.args.includes('--from='))) {
      expect(copy.args).not.toMatch(/\b(src|test|node_modules)\b|^\.\s/);
    }
  });

  it('runs as a non-root user, numerically (Kubernetes runAsNonRoot can check it)', () => {
    const users = all(final, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(user.split(':')[0]).not.toBe('0');
  });

  it('checks its health on /healthz with node itself (no curl in a slim image)', () => {
    const healthcheck = all(final, 'HEALTHCHECK');
    expect(healthcheck).toHaveLength(1);
    expect(healthcheck[0]!.args).toMatch(/CMD \["node", "-e", ".*fetch\(.*\/healthz/);
    expect(healthcheck[0]!.args).not.toMatch(/curl|wget/);
  });

  it('runs node directly (signals reach Gatehouse), in production mode, on all interfaces, with no secret baked in', () => {
    expect(all(final, 'ENTRYPOINT').concat(all(final, 'CMD')).at(-1)!.args).toBe('["node", "dist/main.js"]');
    const env = all(final, 'ENV').map((e) => e.args).join(' ');
    expect(env).toMatch(/NODE_ENV=production/);
    // The image runs node with the V8 flags `npm start` gives it (and the benchmarks measure with).
    const startFlags = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start.split(' ').filter((w) => w.startsWith('--'));
    expect(startFlags.length).toBeGreaterThan(0);
    expect(/NODE_OPTIONS=("[^"]*"|\S+)/.exec(env)?.[1]?.replace(/"/g, '')).toBe(startFlags.join(' '));
    expect(env).toMatch(/GATEHOUSE_HOST=0\.0\.0\.0/);
    expect(env).not.toMatch(/MASTER_KEY|DATABASE_URL|SECRET|TOKEN|PASSWORD/);
    // Everything the final stage copies from the context exists and is not excluded by .dockerignore.
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const stage of stages) {
      for (const copy of all(stage, 'COPY').filter((c) => !c.args.includes('--from='))) {
        const sources = copy.args.split(/\s+/).slice(0, -1);
        for (const source of sources) {
          expect(existsSync(path.join(root, source)), source).toBe(true);
          expect(ignored, `${source} is excluded by .dockerignore`).not.toContain(source);
        }
      }
    }
    for (const excluded of ['node_modules', 'dist', 'data', '.env', '.git']) expect(ignored).toContain(excluded);
  });
});

describe('docker/compose.yaml', () => {
  const compose = read('docker/compose.yaml');
  const uncommented = compose.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');

  it('refers only to files that exist, or that the README has the operator create', () => {
    const production = /## Production[\s\S]*?(?=\n## |$)/.exec(read('README.md'))?.[0] ?? '';
    expect(production, 'README has a Production section').not.toBe('');
    const referenced = [...uncommented.matchAll(/(?<=[\s"'-])(\.\.?\/[\w./-]*)/g)].map((m) => m[1]!);
    expect(referenced.length).toBeGreaterThan(5);
    for (const ref of referenced) {
      const file = path.join(root, 'docker', ref);
      if (ref.startsWith('./secrets/') || ref.startsWith('./tls')) {
        // Operator-provided, never committed: the README says how to create each.
        expect(production, `README Production section explains docker/${ref.slice(2)}`).toContain(ref === './tls' ? 'docker/tls' : `docker/${ref.slice(2)}`);
      } else {
        expect(existsSync(file), `docker/${ref}`).toBe(true);
      }
    }
    expect(referenced).toContain('./grafana-dashboard.json');
    expect(JSON.parse(read('docker/grafana-dashboard.json')).panels.length).toBeGreaterThan(0);
  });

  it('has PostgreSQL, three Gatehouse nodes behind nginx (every one an upstream), Prometheus scraping each, Grafana', () => {
    const services = [...uncommented.matchAll(/^ {2}([\w-]+):\s*$/gm)].map((m) => m[1]!);
    for (const name of ['postgres', 'gatehouse-1', 'gatehouse-2', 'gatehouse-3', 'nginx', 'prometheus', 'grafana']) expect(services).toContain(name);
    const upstreams = [...read('docker/nginx/gatehouse.conf').matchAll(/^\s*server\s+([\w-]+):3000/gm)].map((m) => m[1]);
    expect(upstreams.sort()).toEqual(['gatehouse-1', 'gatehouse-2', 'gatehouse-3']);
    const targets = /targets:\s*\[([^\]]*)\]/.exec(read('docker/prometheus/prometheus.yml'))![1]!;
    expect(targets.split(',').map((t) => t.trim().replace(/"/g, '')).sort()).toEqual(['gatehouse-1:9464', 'gatehouse-2:9464', 'gatehouse-3:9464']);
  });

  it('configures the nodes with settings Gatehouse knows, which production mode accepts', () => {
    const block = /^x-gatehouse:[\s\S]*?\n {2}environment:\n((?: {4}\S.*\n)+)/m.exec(uncommented)?.[1];
    expect(block).toBeDefined();
    const env = Object.fromEntries(block!.trim().split('\n').map((l) => {
      const [, k, v] = /^\s*([A-Z0-9_]+):\s*"?([^"]*)"?$/.exec(l) ?? [];
      return [k!, v!];
    }));
    const known = new Set<string>([...settings.map((s) => s.env), 'NODE_ENV']);
    for (const name of Object.keys(env)) expect(known.has(name), name).toBe(true);
    expect(env.NODE_ENV).toBe('production');
    expect(env.GATEHOUSE_MASTER_KEY_FILE).toMatch(/^\/run\/secrets\//);
    expect(Object.keys(env).filter((k) => /MASTER_KEY$|PASSWORD|SECRET$/.test(k))).toEqual([]);
    // DATABASE_URL comes from a secret file at start; any URL stands in for it here.
    const config = loadConfig({ ...env, DATABASE_URL: 'postgres://gatehouse:x@postgres:5432/gatehouse' });
    expect(config.env).toBe('production');
    expect(config.host).toBe('0.0.0.0');
    expect(config.metrics.port).toBe(9464);
  });
});

describe('docker/k8s', () => {
  const deployment = read('docker/k8s/gatehouse.yaml');

  it('has a Deployment with probes, a PodDisruptionBudget, and the master key from a Secret as a file', () => {
    for (const kind of ['Deployment', 'PodDisruptionBudget', 'Service']) expect(deployment).toMatch(new RegExp(`^kind: ${kind}$`, 'm'));
    expect(deployment).not.toMatch(/^kind: Secret$/m); // applying the file must never overwrite the real Secret
    expect(read('docker/k8s/secret.example.yaml')).toMatch(/^kind: Secret$/m);
    expect(deployment).toMatch(/readinessProbe:\n(?:\s+#.*\n)*\s+httpGet: \{ path: \/readyz/);
    expect(deployment).toMatch(/livenessProbe:\n(?:\s+#.*\n)*\s+httpGet: \{ path: \/healthz/);
    expect(deployment).toMatch(/runAsNonRoot: true/);
    expect(deployment).toMatch(/readOnlyRootFilesystem: true/);
    expect(deployment).toMatch(/GATEHOUSE_MASTER_KEY_FILE, value: \/run\/secrets\/gatehouse\/master-key/);
    expect(deployment).toMatch(/mountPath: \/run\/secrets\/gatehouse/);
    const known = new Set<string>([...settings.map((s) => s.env), 'NODE_ENV']);
    for (const [, name] of deployment.matchAll(/name: ([A-Z][A-Z0-9_]+)\b/g)) expect(known.has(name!), name).toBe(true);
  });
});
