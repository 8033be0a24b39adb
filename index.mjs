// ESM entry: the addon loader is CommonJS, so this re-exports it.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const cjs = require('./index.js')

export const createRedisStore = cjs.createRedisStore
export const aclRule = cjs.aclRule
export const aclFeatures = cjs.aclFeatures
export const sentinelUserRule = cjs.sentinelUserRule
export default cjs
