import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The browser app reads the server's API shapes with `import type` from src/http/schemas/ (and the
 * request schemas of src/<domain>/schemas.ts). Type-only imports are erased, so the bundle holds
 * no server code and no zod. These checks keep it that way: a value import from src/ would drag
 * zod (and possibly Node-only modules) into what every visitor downloads.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const webSrc = join(root, 'web', 'src');
const serverSrc = join(root, 'src') + sep;
const assets = join(root, 'web', 'dist', 'assets');

/** Server-only libraries (and zod, which the browser app does not need at run time). */
const SERVER_PACKAGES = ['zod', 'kysely', 'fastify', 'fastify-type-provider-zod', 'pino', 'pg', 'pg-boss', 'sharp', 'replicate'];
const isServerPackage = (spec: string) =>
  spec.startsWith('node:') || spec.startsWith('@fastify/') || spec.startsWith('@aws-sdk/') || SERVER_PACKAGES.includes(spec) || SERVER_PACKAGES.some((p) => spec.startsWith(`${p}/`));

/** Text that only the named library puts in a bundle (checked on minified code, so no identifiers). */
const SERVER_CODE_MARKERS: Array<[string, RegExp]> = [
  ['zod', /\b_zod\b|ZodError|\$ZodType/],
  ['kysely', /kysely|SelectQueryNode/i],
  ['fastify', /fastify|FST_ERR_/i],
  ['pino', /\bpino\b/],
  ['a node: import', /["'`]node:[a-z_/]+["'`]/],
  // Vite's stand-in for a Node built-in it could not bundle.
  ['a Node built-in (__vite-browser-external)', /__vite-browser-external/],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|tsx)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

interface ImportSite {
  spec: string;
  /** Erased entirely from the output: `import type …` or `export type … from`. */
  typeOnly: boolean;
  line: number;
}

/** Every module a file refers to: imports, re-exports, `import x = require()`, and dynamic `import()`. */
function importsOf(file: string, text: string): ImportSite[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const sites: ImportSite[] = [];
  const add = (spec: ts.Expression, typeOnly: boolean, node: ts.Node) => {
    if (ts.isStringLiteralLike(spec)) sites.push({ spec: spec.text, typeOnly, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (node: ts.Node) => {
    // Only a whole-clause `import type` is erased: under verbatimModuleSyntax, `import { type A }`
    // still emits `import {} from '…'`, which loads the module.
    if (ts.isImportDeclaration(node)) add(node.moduleSpecifier, node.importClause?.isTypeOnly === true, node);
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier) add(node.moduleSpecifier, node.isTypeOnly, node);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression, node.isTypeOnly, node);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0]) add(node.arguments[0], false, node);
    // `typeof import('…')` in a type position is erased.
    else if (ts.isImportTypeNode(node)) return;
    ts.forEachChild(node, visit);
  };
  visit(source);
  return sites;
}

/** What a web/src file must not import as a value: anything under the server's src/, or a server library. */
function valueImportViolations(file: string, text: string): string[] {
  const found: string[] = [];
  for (const site of importsOf(file, text)) {
    if (site.typeOnly) continue;
    const where = `${relative(root, file)}:${site.line} imports '${site.spec}'`;
    if (site.spec.startsWith('.') && resolve(dirname(file), site.spec).startsWith(serverSrc)) found.push(`${where} (server code: use \`import type\`)`);
    else if (isServerPackage(site.spec)) found.push(`${where} (a server library: the browser app must not bundle it)`);
  }
  return found;
}

describe('the browser bundle holds no server code', () => {
  it('web/src imports nothing from src/ or from server libraries but types', () => {
    const files = sourceFiles(webSrc).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
    expect(files.length).toBeGreaterThan(10);
    // The web app does read the server's schemas: make sure this check sees those imports at all.
    expect(files.flatMap((f) => importsOf(f.file, f.text)).some((s) => s.typeOnly && s.spec.includes('/src/http/schemas/'))).toBe(true);
    expect(files.flatMap((f) => valueImportViolations(f.file, f.text))).toEqual([]);
  });

  it('flags value imports, inline `type` imports, side-effect imports and re-exports from src/, and accepts `import type`', () => {
    const probe = join(webSrc, 'api', 'probe.ts');
    const flagged = (text: string) => valueImportViolations(probe, text).length;
    expect(flagged("import type { modelResponse } from '../../../src/http/schemas/models.ts';")).toBe(0);
    expect(flagged("export type { Model } from './types.ts';")).toBe(0);
    expect(flagged("type M = typeof import('../../../src/http/schemas/models.ts');")).toBe(0);
    expect(flagged("import type { z } from 'zod';")).toBe(0);
    expect(flagged("import { useQuery } from '@tanstack/react-query';")).toBe(0);
    expect(flagged("import { apiRequest } from './client.ts';")).toBe(0);
    expect(flagged("import { modelResponse } from '../../../src/http/schemas/models.ts';")).toBe(1);
    expect(flagged("import { type modelResponse } from '../../../src/http/schemas/models.ts';")).toBe(1);
    expect(flagged("export { modelResponse } from '../../../src/http/schemas/models.ts';")).toBe(1);
    expect(flagged("import '../../../src/config.ts';")).toBe(1);
    expect(flagged("const m = await import('../../../src/config.ts');")).toBe(1);
    expect(flagged("import { z } from 'zod';")).toBe(1);
    expect(flagged("import { readFileSync } from 'node:fs';")).toBe(1);
    expect(flagged("import { pino } from 'pino';")).toBe(1);
  });

  it('the built bundle contains no zod, kysely, fastify, pino or Node built-in', () => {
    const missing = 'web/dist/assets has no built JavaScript: build the web app first (`npm run build:web`; `npm test` does it before the tests).';
    expect(existsSync(assets), missing).toBe(true);
    const scripts = readdirSync(assets).filter((f) => f.endsWith('.js'));
    expect(scripts.length, missing).toBeGreaterThan(0);
    const hits: string[] = [];
    for (const name of scripts) {
      const code = readFileSync(join(assets, name), 'utf8');
      for (const [what, marker] of SERVER_CODE_MARKERS) {
        const m = marker.exec(code);
        if (m) hits.push(`${name} contains ${what}: …${code.slice(Math.max(0, m.index - 60), m.index + 60)}…`);
      }
    }
    expect(hits).toEqual([]);
  });

  it('every module in the bundle comes from web/src or a browser library (read from the source maps)', () => {
    const maps = existsSync(assets) ? readdirSync(assets).filter((f) => f.endsWith('.js.map')) : [];
    // web/vite.config.ts builds source maps; they list every module that went into each chunk.
    expect(maps.length, 'web/dist/assets has no source maps: build the web app first (`npm run build:web`), with `build.sourcemap` on').toBeGreaterThan(0);
    const offenders: string[] = [];
    for (const name of maps) {
      const map = JSON.parse(readFileSync(join(assets, name), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const source of map.sources) {
        const path = resolve(assets, map.sourceRoot ?? '', source);
        const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
        if (path.startsWith(serverSrc)) offenders.push(`${name}: ${relative(root, path)} (server code)`);
        else if (pkg && isServerPackage(pkg)) offenders.push(`${name}: ${relative(root, path)} (${pkg})`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
