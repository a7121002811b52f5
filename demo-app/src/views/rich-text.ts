import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { Editor, type ChainedCommands } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import Placeholder from '@tiptap/extension-placeholder'
import type { Identity } from '../app/identity.js'
import { h, type View } from './dom.js'

/** The Y.Doc field the rich text lives in (a Y.XmlFragment, beside the notes' Y.Text). */
export const RICH_TEXT_FIELD = 'rich'

interface Tool {
  /** Text shown on the button (styled by `rt-<key>`), or an icon. */
  readonly label: string | { readonly svg: string }
  readonly key: string
  readonly title: string
  /** For `isActive`: a mark or node name, and its attributes. */
  readonly active?: readonly [string, Record<string, unknown>?]
  readonly run: (chain: ChainedCommands) => ChainedCommands
  /** Starts a new group in the toolbar. */
  readonly group?: boolean
}

/** Line icons on a 24 × 24 grid, drawn with the text colour. */
const ICON = {
  bulletList: '<circle cx="5" cy="6" r="1.3"/><circle cx="5" cy="12" r="1.3"/><circle cx="5" cy="18" r="1.3"/><path d="M10 6h10M10 12h10M10 18h10"/>',
  orderedList: '<path d="M4 4.5h1.5V9M4 9h3M4 14.2c.4-.9 2.8-1 2.8.4 0 1.1-2.8 1.9-2.8 3.4h3M11 6h9M11 12h9M11 18h9"/>',
  quote: '<path d="M4 18c3-1 4.5-3.5 4.5-7V6H4v5h4.5M13.5 18c3-1 4.5-3.5 4.5-7V6h-4.5v5H18"/>',
  codeBlock: '<rect x="3" y="4" width="18" height="16" rx="2.5"/><path d="M10 9.5 7.5 12l2.5 2.5M14 9.5l2.5 2.5-2.5 2.5"/>',
  undo: '<path d="M9 14 4 9l5-5"/><path d="M4 9h10.5a5.5 5.5 0 0 1 0 11H11"/>',
  redo: '<path d="m15 14 5-5-5-5"/><path d="M20 9H9.5a5.5 5.5 0 0 0 0 11H13"/>',
} as const

const TOOLS: readonly Tool[] = [
  { key: 'bold', label: 'B', title: 'Bold (Ctrl+B)', active: ['bold'], run: (c) => c.toggleBold() },
  { key: 'italic', label: 'I', title: 'Italic (Ctrl+I)', active: ['italic'], run: (c) => c.toggleItalic() },
  { key: 'strike', label: 'S', title: 'Strikethrough', active: ['strike'], run: (c) => c.toggleStrike() },
  { key: 'code', label: '</>', title: 'Inline code', active: ['code'], run: (c) => c.toggleCode() },
  { key: 'h1', label: 'H1', title: 'Heading 1', active: ['heading', { level: 1 }], run: (c) => c.toggleHeading({ level: 1 }), group: true },
  { key: 'h2', label: 'H2', title: 'Heading 2', active: ['heading', { level: 2 }], run: (c) => c.toggleHeading({ level: 2 }) },
  { key: 'bullets', label: { svg: ICON.bulletList }, title: 'Bulleted list', active: ['bulletList'], run: (c) => c.toggleBulletList(), group: true },
  { key: 'numbers', label: { svg: ICON.orderedList }, title: 'Numbered list', active: ['orderedList'], run: (c) => c.toggleOrderedList() },
  { key: 'quote', label: { svg: ICON.quote }, title: 'Quote', active: ['blockquote'], run: (c) => c.toggleBlockquote() },
  { key: 'codeblock', label: { svg: ICON.codeBlock }, title: 'Code block', active: ['codeBlock'], run: (c) => c.toggleCodeBlock() },
  { key: 'undo', label: { svg: ICON.undo }, title: 'Undo your last change (Ctrl+Z)', run: (c) => c.undo(), group: true },
  { key: 'redo', label: { svg: ICON.redo }, title: 'Redo (Ctrl+Shift+Z)', run: (c) => c.redo() },
]

function buttonFace(tool: Tool): HTMLElement {
  const face = h('span', { class: `rt-face rt-${tool.key}`, 'aria-hidden': 'true' })
  if (typeof tool.label === 'string') face.textContent = tool.label
  // A constant of this file, never user input.
  else face.innerHTML = `<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">${tool.label.svg}</svg>`
  return face
}

/**
 * The rich-text document: TipTap (ProseMirror) with its Collaboration extension on a Y.XmlFragment of the
 * doc's Y.Doc, the very Y.Doc the SDK keeps in IndexedDB and syncs, so it works offline and merges on
 * reconnect like the rest. Other people's carets and selections come from the doc's awareness, with the
 * names and colours of their presence. Undo only undoes your own changes.
 */
export class RichText implements View {
  readonly el: HTMLElement
  private readonly editor: Editor
  private readonly buttons: { readonly tool: Tool; readonly el: HTMLButtonElement }[] = []

  constructor(doc: Y.Doc, awareness: Awareness, identity: Identity) {
    const toolbar = h('div', { class: 'rt-toolbar', role: 'toolbar', 'aria-label': 'Formatting' })
    for (const tool of TOOLS) {
      if (tool.group === true) toolbar.append(h('span', { class: 'rt-sep', 'aria-hidden': 'true' }))
      const el = h('button', { class: 'rt-button', type: 'button', title: tool.title, 'aria-label': tool.title }, buttonFace(tool))
      // Keep the editor's selection: a button press must not take the focus.
      el.addEventListener('mousedown', (ev) => ev.preventDefault())
      el.addEventListener('click', () => {
        tool.run(this.editor.chain().focus()).run()
      })
      this.buttons.push({ tool, el })
      toolbar.append(el)
    }
    const surface = h('div', { class: 'rt-surface', 'data-testid': 'rich-text' })
    this.el = h('div', { class: 'rt' }, toolbar, surface)
    this.editor = new Editor({
      element: surface,
      extensions: [
        // Collaboration brings an undo of its own, which only undoes this person's changes. No trailing
        // paragraph: each client would add its own to the shared doc.
        StarterKit.configure({ undoRedo: false, trailingNode: false }),
        Collaboration.configure({ document: doc, field: RICH_TEXT_FIELD }),
        CollaborationCaret.configure({ provider: { awareness }, user: userOf(identity) }),
        Placeholder.configure({ placeholder: 'Write the document together: headings, lists, quotes…' }),
      ],
      editorProps: { attributes: { class: 'rt-content', 'aria-label': 'Rich-text document', spellcheck: 'true' } },
    })
    this.editor.on('transaction', () => this.refreshToolbar())
    this.editor.on('focus', () => this.refreshToolbar())
    this.refreshToolbar()
  }

  /** A new name or colour: carets elsewhere show it at once. */
  setIdentity(identity: Identity): void {
    this.editor.commands.updateUser(userOf(identity))
  }

  focus(): void {
    this.editor.commands.focus()
  }

  private refreshToolbar(): void {
    for (const { tool, el } of this.buttons) {
      const active = tool.active !== undefined && this.editor.isActive(tool.active[0], tool.active[1] ?? {})
      el.classList.toggle('is-active', active)
      el.setAttribute('aria-pressed', String(active))
    }
  }

  destroy(): void {
    this.editor.destroy()
  }
}

function userOf(identity: Identity): Record<string, string> {
  return { name: identity.name, color: identity.color, colorLight: identity.colorLight }
}
