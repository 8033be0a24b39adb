// Type-level assertion helpers for drop-in.ts and the negative cases.

/** true when A and B are the same type (not merely mutually assignable through any). */
export type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false

/** true when a value of type From can be used where To is expected (no distribution). */
export type Assignable<From, To> = [From] extends [To] ? true : false

/** Compiles only when T is true. */
export type Assert<T extends true> = T

/** The GCReport shape the original's README documents. */
export interface ReadmeGCReport {
  scannedRids: number
  removedRids: number
  removedFromSets: number
  dryRun?: boolean
}
