/** Type helpers shared inside the package. Not part of the public surface. */

/** `T` with its readonly properties writable: for objects this package builds and then fills in. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
