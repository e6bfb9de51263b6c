import { defineRunyardConfig } from '../../vitest.shared.ts';

export default defineRunyardConfig();
