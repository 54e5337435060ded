import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { envSchema, loadConfig } from '../../../src/config.ts';

/**
 * The deployment files cannot be built or started here (no Docker engine), so they are checked
 * statically against the code they deploy: variable names against the config schema, commands
 * against the CLI, the image against the repository, the proxy against what SSE needs.
 */
const ROOT = join(import.meta.dirname, '../../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const CONFIG_VARIABLES = new Set(Object.keys(envSchema.shape));

/** The commands `src/main.ts` dispatches (its `case '…':` labels). */
const CLI_COMMANDS = new Set([...read('src/main.ts').matchAll(/case '([a-z-]+)':/g)].map((m) => m[1]!));

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: unknown[];
  expose?: unknown[];
  healthcheck?: { disable?: boolean; test?: unknown };
  volumes?: string[];
  deploy?: { replicas?: number };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const composeText = read('compose.yaml');
const compose = parse(composeText, { merge: true }) as Compose;
const services = compose.services;
/** Services that run the platform's own image (they are built from the Dockerfile). */
const appServices = Object.entries(services).filter(([, s]) => s.build !== undefined);

const dockerfile = read('Dockerfile')
  .replace(/\\\n/g, ' ') // join continued lines
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
/** Instructions of the last stage: what the image runs. */
const finalStage = dockerfile.slice(dockerfile.findLastIndex((l) => /^FROM\s/i.test(l)));

const jsonArray = (line: string) => JSON.parse(line.replace(/^\S+\s+/, '')) as string[];

/** Values compose would pass, with test values for `${VAR:?…}` and defaults for `${VAR:-…}`. */
function interpolate(value: string, given: Record<string, string>): string {
  return value
    .replace(/\$\{([A-Z0-9_]+)(?::([?-])((?:[^}]|\}(?!\}))*?))?\}/g, (_all, name: string, kind?: string, rest?: string) => {
      if (given[name] !== undefined) return given[name];
      if (kind === '-') return rest ?? '';
      throw new Error(`${name} must be set (${rest ?? 'no message'})`);
    })
    .replace(/\$\$/g, '$');
}

/** Environment names whose values are credentials. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|ACCESS_KEY|_KEY$/;

describe('compose.yaml', () => {
  it('has the services of a scaled deployment', () => {
    for (const name of ['postgres', 'migrate', 'web', 'worker', 'proxy']) expect(services[name], name).toBeDefined();
    expect(services.postgres!.image).toMatch(/^postgres:16/);
    expect(services.postgres!.healthcheck?.test).toBeDefined();
    expect(services.postgres!.volumes?.some((v) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true);
    expect(appServices.map(([name]) => name).sort()).toEqual(['migrate', 'web', 'worker']);
    // One image for every role.
    expect(new Set(appServices.map(([, s]) => s.image)).size).toBe(1);
  });

  it('names only variables the platform reads (src/config.ts), in every app service', () => {
    for (const [name, service] of appServices) {
      const unknown = Object.keys(service.environment ?? {}).filter((v) => !CONFIG_VARIABLES.has(v));
      expect(unknown, `${name} sets variables src/config.ts does not read`).toEqual([]);
    }
  });

  it('gives every app service a valid configuration for PostgreSQL, S3 and Replicate behind a proxy', () => {
    const given = {
      POSTGRES_PASSWORD: 'pw' + randomBytes(8).toString('hex'),
      S3_ACCESS_KEY_ID: 'key' + randomBytes(6).toString('hex'),
      S3_SECRET_ACCESS_KEY: randomBytes(16).toString('hex'),
      REPLICATE_API_TOKEN: 'r8_' + randomBytes(16).toString('hex'),
      REPLICATE_DESTINATION: 'someone/theway-loras',
    };
    const imageEnv = Object.fromEntries(
      finalStage.filter((l) => /^ENV\s/i.test(l)).flatMap((l) => [...l.slice(4).matchAll(/([A-Z0-9_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])),
    );
    for (const [name, service] of appServices) {
      const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v ?? ''), given)]));
      const config = loadConfig({ ...imageEnv, ...env });
      expect(config.database.url, name).toBe(`postgres://theway:${given.POSTGRES_PASSWORD}@postgres:5432/theway`);
      expect(config.storage.s3, name).toMatchObject({ bucket: 'theway', endpoint: 'http://s3:9000', forcePathStyle: true, accessKeyId: given.S3_ACCESS_KEY_ID });
      expect(config.replicate.token, name).toBe(given.REPLICATE_API_TOKEN);
      expect(config.trustProxy, name).toBe(1); // TRUST_PROXY=true: the one proxy in front (Caddy)
      expect(config.host, name).toBe('0.0.0.0');
      expect(config.port, name).toBe(3000);
    }
    // Without the secrets, compose refuses to start instead of running with empty ones.
    const web = services.web!.environment!;
    for (const secret of ['DATABASE_URL', 'S3_SECRET_ACCESS_KEY', 'REPLICATE_API_TOKEN']) {
      expect(() => interpolate(String(web[secret]), {}), secret).toThrow(/must be set/);
    }
  });

  it('runs real CLI commands of src/main.ts in every app service', () => {
    expect(CLI_COMMANDS).toEqual(new Set(['serve', 'web', 'worker', 'migrate', 'create-user']));
    const roles = Object.fromEntries(appServices.map(([name, s]) => [name, Array.isArray(s.command) ? s.command : String(s.command).split(/\s+/)]));
    for (const [name, command] of Object.entries(roles)) expect(CLI_COMMANDS.has(command[0]!), `${name}: ${command.join(' ')}`).toBe(true);
    expect(roles).toEqual({ migrate: ['migrate'], web: ['web'], worker: ['worker'] });
  });

  it('starts web and worker only after migrate completed', () => {
    for (const name of ['web', 'worker']) {
      const deps = services[name]!.depends_on as Record<string, { condition?: string }>;
      expect(deps.migrate?.condition, name).toBe('service_completed_successfully');
    }
    const migrateDeps = services.migrate!.depends_on as Record<string, { condition?: string }>;
    expect(migrateDeps.postgres?.condition).toBe('service_healthy');
  });

  it('publishes no port of web or worker: only the proxy is reachable', () => {
    expect(services.worker!.ports).toBeUndefined();
    expect(services.worker!.expose).toBeUndefined();
    // The worker has no HTTP server, so the image's health check must not mark it unhealthy.
    expect(services.worker!.healthcheck?.disable).toBe(true);
    expect(services.web!.ports).toBeUndefined();
    expect(services.web!.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(services.proxy!.ports?.length).toBeGreaterThan(0);
    const [hostPath] = services.proxy!.volumes!.find((v) => v.includes('Caddyfile'))!.split(':');
    expect(existsSync(join(ROOT, hostPath!))).toBe(true);
  });

  it('declares every named volume it mounts', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) continue;
        expect(compose.volumes ?? {}, `${name} mounts ${source}`).toHaveProperty(source);
      }
    }
  });

  it('contains no literal secret: credentials come from ${VAR:?…} interpolation', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [key, raw] of Object.entries(service.environment ?? {})) {
        const value = String(raw ?? '');
        if (key === 'DATABASE_URL') {
          const password = /^postgres:\/\/[^:]+:(.*)@[^@]+$/.exec(value)?.[1];
          expect(password, `${name}.DATABASE_URL password`).toMatch(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/);
        } else if (SECRET_NAME.test(key)) {
          expect(value, `${name}.${key}`).toMatch(/^\$\{[A-Z0-9_]+:\?[^}]+\}$/);
        }
      }
    }
    expect(composeText).not.toMatch(/r8_[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{12,}|minioadmin|rustfsadmin|changeme/i);
  });

  it('names every variable it reads from .env in the README\'s Docker Compose section, and the ports HTTPS needs', () => {
    const readme = read('README.md');
    const start = readme.indexOf('### With Docker Compose');
    expect(start).toBeGreaterThan(0);
    const end = readme.indexOf('\n## ', start);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const fromEnv = [...new Set([...composeText.matchAll(/(?<!\$)\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!))];
    expect(fromEnv.length).toBeGreaterThan(10);
    expect(fromEnv.filter((name) => !new RegExp(`\\b${name}\\b`).test(section))).toEqual([]);
    // Caddy needs 80 and 443 for a certificate; compose publishes other ports unless told.
    const published = (services.proxy!.ports ?? []).map(String);
    for (const [variable, port] of [['HTTP_PORT', '80'], ['HTTPS_PORT', '443']] as const) {
      const mapping = published.find((p) => p.startsWith(`\${${variable}:-`));
      expect(mapping, variable).toBeDefined();
      if (!mapping!.startsWith(`\${${variable}:-${port}}`)) expect(section, variable).toMatch(new RegExp(`\\b${variable}=${port}\\b`));
    }
  });

  it('escapes every $ meant for a shell ($$), so compose interpolates only ${…}', () => {
    const stray = [...composeText.matchAll(/\$(?!\$|\{)/g)].filter((m) => composeText[m.index - 1] !== '$');
    expect(stray.map((m) => composeText.slice(m.index, m.index + 20))).toEqual([]);
  });
});

describe('deploy/Caddyfile (reverse proxy)', () => {
  const caddyfile = read('deploy/Caddyfile');

  /** The body of the first `handle <matcher> { … }` block (balanced braces). */
  function handleBlock(matcher: string): string | null {
    const start = caddyfile.indexOf(`handle ${matcher} {`);
    if (start < 0) return null;
    let depth = 0;
    for (let i = caddyfile.indexOf('{', start); i < caddyfile.length; i++) {
      if (caddyfile[i] === '{') depth++;
      if (caddyfile[i] === '}' && --depth === 0) return caddyfile.slice(start, i + 1);
    }
    return null;
  }

  it('streams /api/events unbuffered, with a read timeout far above the 15 s keep-alive, uncompressed', () => {
    const events = handleBlock('/api/events');
    expect(events).not.toBeNull();
    expect(events).toMatch(/^\s*flush_interval\s+-1\s*$/m);
    const timeout = /read_timeout\s+(\d+)(s|m|h)/.exec(events!);
    expect(timeout).not.toBeNull();
    const seconds = Number(timeout![1]) * { s: 1, m: 60, h: 3600 }[timeout![2] as 's' | 'm' | 'h'];
    expect(seconds).toBeGreaterThanOrEqual(600);
    expect(events).not.toMatch(/\bencode\b/);
  });

  it('balances over every web replica at the port the image listens on', () => {
    const port = /ENV[^\n]*\bPORT=(\d+)/.exec(finalStage.join('\n'))![1];
    const upstreams = [...caddyfile.matchAll(/dynamic a (\S+) (\d+)/g)];
    expect(upstreams.length).toBeGreaterThanOrEqual(2);
    for (const [, host, upstreamPort] of upstreams) {
      expect(host).toBe('web');
      expect(upstreamPort).toBe(port);
    }
    expect(caddyfile).not.toMatch(/^\s*admin\s+(?!off)/m);
  });
});

describe('Dockerfile', () => {
  const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string>; devDependencies: Record<string, string> };

  it('builds on the Node major the project pins, in several stages', () => {
    const froms = dockerfile.filter((l) => /^FROM\s/i.test(l));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const image = /^ARG NODE_IMAGE=(\S+)/m.exec(dockerfile.join('\n'))?.[1];
    expect(image).toMatch(/^node:\d+/);
    expect(image!.split(':')[1]!.split(/[.-]/)[0]).toBe(packageJson.devDependencies.node!.split('.')[0]);
    for (const from of froms) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\}/);
  });

  it('installs with npm ci and builds the browser app', () => {
    const runs = dockerfile.filter((l) => /^RUN\s/i.test(l)).join('\n');
    expect(runs).toMatch(/\bnpm ci\b/);
    expect(runs).not.toMatch(/\bnpm install\b/);
    expect(runs).toMatch(/\bnpm run build:web\b/);
    expect(packageJson.scripts['build:web']).toBeDefined();
    expect(finalStage.some((l) => /^COPY --from=\S+ \/app\/web\/dist \.\/web\/dist$/.test(l))).toBe(true);
  });

  it('runs as a non-root user', () => {
    const users = finalStage.filter((l) => /^USER\s/i.test(l));
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
  });

  it('starts an existing file with a real CLI command, and checks the health route', () => {
    const entrypoint = jsonArray(finalStage.find((l) => /^ENTRYPOINT\s/i.test(l))!);
    expect(entrypoint[0]).toBe('node');
    expect(existsSync(join(ROOT, entrypoint[1]!))).toBe(true);
    const cmd = jsonArray(finalStage.find((l) => /^CMD\s/i.test(l))!);
    expect(cmd).toEqual(['serve']);
    expect(CLI_COMMANDS.has(cmd[0]!)).toBe(true);
    const healthcheck = finalStage.find((l) => /^HEALTHCHECK\s/i.test(l));
    expect(healthcheck).toBeDefined();
    const route = /\/api\/[a-z/]+/.exec(healthcheck!)![0];
    expect(read('src/http/routes/health-routes.ts')).toContain(`'${route}'`);
  });

  it('sets only variables the platform reads, and copies paths that exist and reach the build context', () => {
    const envNames = finalStage.filter((l) => /^ENV\s/i.test(l)).flatMap((l) => [...l.slice(4).matchAll(/([A-Z0-9_]+)=/g)].map((m) => m[1]!));
    expect(envNames.length).toBeGreaterThan(0);
    expect(envNames.filter((n) => !CONFIG_VARIABLES.has(n))).toEqual([]);
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const must of ['.git', 'node_modules', '.env', 'data']) expect(ignored).toContain(must);
    const copies = dockerfile.filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const sources = copy.split(/\s+/).slice(1, -1).filter((s) => !s.startsWith('--'));
      for (const source of sources) {
        expect(existsSync(join(ROOT, source)), `${copy}: ${source} exists`).toBe(true);
        expect(ignored.includes(source.replace(/\/$/, '')), `${copy}: ${source} is not in .dockerignore`).toBe(false);
      }
    }
  });

  it('contains no literal secret', () => {
    const text = read('Dockerfile');
    expect(text).not.toMatch(/r8_[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{12,}|(PASSWORD|SECRET|TOKEN|ACCESS_KEY)[A-Z_]*=/);
    expect(text).not.toMatch(/^ARG\s+\S*(PASSWORD|SECRET|TOKEN)/im);
  });
});
