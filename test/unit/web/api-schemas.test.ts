import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { ModelStatus } from '../../../src/db/schema.ts';
import { ASPECT_RATIOS, OUTPUT_FORMATS } from '../../../src/generations/controls.ts';
import { recipeParams as recipeParamsInput } from '../../../src/generations/schemas.ts';
import { recipeParams, aspectRatio, outputFormat } from '../../../src/http/schemas/generations.ts';
import { modelStatus, modelType, visibility } from '../../../src/http/schemas/models.ts';
import { trainingStatus } from '../../../src/http/schemas/trainings.ts';
import { MODEL_TYPES, VISIBILITIES } from '../../../src/models/schemas.ts';
import { TRAINING_STATUSES } from '../../../src/trainings/state-machine.ts';

/**
 * src/http/schemas/ holds the API's shapes for the server and (as types) for the browser app.
 * It imports nothing but zod and its siblings, so it repeats a few lists the domain code owns;
 * these checks fail when a copy and its original part ways.
 */
const schemasDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/http/schemas');

describe('src/http/schemas', () => {
  it('imports nothing but zod and its own modules', () => {
    const files = readdirSync(schemasDir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(3);
    const foreign: string[] = [];
    for (const name of files) {
      const source = ts.createSourceFile(name, readFileSync(join(schemasDir, name), 'utf8'), ts.ScriptTarget.Latest, true);
      source.forEachChild(function visit(node): void {
        const spec = ts.isImportDeclaration(node) || ts.isExportDeclaration(node) ? node.moduleSpecifier : ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword ? node.arguments[0] : undefined;
        if (spec && ts.isStringLiteralLike(spec) && spec.text !== 'zod' && !/^\.\/[\w-]+\.ts$/.test(spec.text)) foreign.push(`${name}: '${spec.text}'`);
        node.forEachChild(visit);
      });
    }
    expect(foreign, 'These modules are read by the browser app: move what they need here, or repeat it with a check in this test').toEqual([]);
  });

  it('lists the same model types, visibilities and training statuses as the domain code', () => {
    expect(modelType.options).toEqual([...MODEL_TYPES]);
    expect(visibility.options).toEqual([...VISIBILITIES]);
    expect(trainingStatus.options).toEqual([...TRAINING_STATUSES]);
    // ModelStatus is only a type (src/db/schema.ts); the typecheck compares it.
    expectTypeOf<z.output<typeof modelStatus>>().toEqualTypeOf<ModelStatus>();
  });

  it('describes recipe parameters exactly as the request schema accepts them', () => {
    expect(aspectRatio.options).toEqual([...ASPECT_RATIOS]);
    expect(outputFormat.options).toEqual([...OUTPUT_FORMATS]);
    for (const io of ['input', 'output'] as const) expect(z.toJSONSchema(recipeParams, { io })).toEqual(z.toJSONSchema(recipeParamsInput, { io }));
  });
});
