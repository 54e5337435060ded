#!/usr/bin/env node
// The project pins Node 24 through npm (node_modules/.bin/node); older Nodes cannot run the TypeScript sources.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`The Way needs Node 24 or newer (this is ${process.version}). Run it through npm so the pinned Node is used: "npm start" or "npx theway <command>".`);
  process.exit(1);
}
await import('../src/main.ts');
