// Deliberately wrong: every line marked `expect-error` must fail to compile, and the
// control lines must not. types.test.mjs compiles this file and checks the exact lines,
// which shows that the assertion helpers drop-in.ts relies on can fail.

import type { Assert, Equals, Assignable, ReadmeGCReport } from '../util'
import type * as O from '../../../node_modules/@devcoons/redis-session-store/src/types'

export type OptionalIsNotRequired = Assert<Equals<{ a: string }, { a?: string }>> // expect-error
export type AnyIsNotString = Assert<Equals<any, string>> // expect-error
export type UnknownIsNotString = Assert<Equals<Record<string, unknown>, Record<string, string>>> // expect-error
export type WiderIsNotEqual = Assert<Equals<string, string | undefined>> // expect-error
export type MissingFieldNotAssignable = Assert<Assignable<{ a: string }, { a: string; b: number }>> // expect-error
export type OriginalGcReportIsNotReadmeShape = Assert<Assignable<O.GCReport, ReadmeGCReport>> // expect-error
export type PromiseVoidIsNotPromiseString = Assert<Equals<Awaited<Promise<void>>, string>> // expect-error

// Controls: these hold, so they compile.
export type SameIsEqual = Assert<Equals<{ a: string }, { a: string }>>
export type NarrowerIsAssignable = Assert<Assignable<{ a: string; b: number }, { a: string }>>
