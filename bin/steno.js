#!/usr/bin/env node
// The headless CLI runs the TypeScript sources directly through tsx, so it needs
// no build step and stays the same code as the app's services.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
