/**
 * Who this browser is in presence: a name and a colour, kept in localStorage so a reload (or a node switch)
 * keeps them. Not an account: anyone may rename themselves.
 */
export interface Identity {
  readonly name: string
  readonly color: string
  /** The same hue, for selection backgrounds. */
  readonly colorLight: string
}

const KEY = 'murmur-demo:identity'

const PALETTE = ['#e11d48', '#d97706', '#059669', '#0284c7', '#7c3aed', '#db2777', '#0d9488', '#4f46e5', '#ea580c', '#65a30d']
const ADJECTIVES = ['Quiet', 'Swift', 'Bright', 'Calm', 'Bold', 'Keen', 'Merry', 'Gentle', 'Brave', 'Lucky']
const ANIMALS = ['Otter', 'Heron', 'Lynx', 'Finch', 'Badger', 'Marten', 'Puffin', 'Fox', 'Wren', 'Ibex']

function pick<T>(list: readonly T[]): T {
  const n = new Uint32Array(1)
  crypto.getRandomValues(n)
  return list[n[0] % list.length]
}

function withColor(name: string, color: string): Identity {
  return { name, color, colorLight: `${color}33` }
}

export function loadIdentity(): Identity {
  try {
    const raw = localStorage.getItem(KEY)
    if (raw !== null) {
      const v: unknown = JSON.parse(raw)
      if (typeof v === 'object' && v !== null && 'name' in v && 'color' in v && typeof v.name === 'string' && typeof v.color === 'string') {
        return withColor(v.name, v.color)
      }
    }
  } catch {
    // A broken entry is replaced below.
  }
  const fresh = withColor(`${pick(ADJECTIVES)} ${pick(ANIMALS)}`, pick(PALETTE))
  saveIdentity(fresh)
  return fresh
}

export function saveIdentity(identity: Identity): void {
  localStorage.setItem(KEY, JSON.stringify({ name: identity.name, color: identity.color }))
}

export function renamed(identity: Identity, name: string): Identity {
  return withColor(name.trim().slice(0, 40) || identity.name, identity.color)
}

/** Initials for an avatar: "Quiet Otter" → "QO". */
export function initials(name: string): string {
  const parts = name.trim().split(/\s+/u).filter(Boolean)
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] ?? '?').slice(0, 2)
  return letters.toUpperCase()
}
