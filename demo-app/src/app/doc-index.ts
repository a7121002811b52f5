import * as Y from 'yjs'
import type { YjsHandle } from '@murmur/client'

/** The list of documents is itself a Yjs doc, so it syncs and works offline like everything else. */
export const INDEX_DOC_ID = 'demo-index'

export interface DocEntry {
  readonly id: string
  readonly title: string
  readonly created: number
}

/** How a doc without a title is shown. */
export const UNTITLED = 'Untitled'

export function displayTitle(entry: DocEntry | null): string {
  return entry === null || entry.title.trim() === '' ? UNTITLED : entry.title
}

function entryOf(id: string, v: unknown): DocEntry | null {
  if (typeof v !== 'object' || v === null) return null
  const { title, created } = v as { title?: unknown; created?: unknown }
  return { id, title: typeof title === 'string' ? title : '', created: typeof created === 'number' ? created : 0 }
}

/**
 * `docs`: a Y.Map of doc id → { title, created }. Renaming replaces the entry, so two people renaming at
 * once end with one of the two titles on every screen.
 */
export class DocIndex {
  private readonly docs: Y.Map<unknown>

  constructor(readonly handle: YjsHandle) {
    this.docs = handle.doc.getMap('docs')
  }

  /** Newest first. */
  entries(): DocEntry[] {
    const out: DocEntry[] = []
    this.docs.forEach((v, id) => {
      const e = entryOf(id, v)
      if (e !== null) out.push(e)
    })
    return out.sort((a, b) => b.created - a.created || a.id.localeCompare(b.id))
  }

  get(id: string): DocEntry | null {
    return entryOf(id, this.docs.get(id))
  }

  create(id: string, title = ''): void {
    this.docs.set(id, { title, created: Date.now() })
  }

  rename(id: string, title: string): void {
    const current = this.get(id)
    const next = title.slice(0, 120)
    if (current !== null && current.title === next) return
    this.docs.set(id, { title: next, created: current?.created ?? Date.now() })
  }

  onChange(listener: () => void): () => void {
    const fn = (): void => listener()
    this.docs.observe(fn)
    return () => this.docs.unobserve(fn)
  }
}
