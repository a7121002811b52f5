/** Origins of changes that are not local edits. */
export const Origin = {
  store: Symbol('murmur:store'),
  server: Symbol('murmur:server'),
  tab: Symbol('murmur:tab'),
} as const
