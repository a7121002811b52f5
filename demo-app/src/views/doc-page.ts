import type { AutomergeHandle, YjsHandle } from '@murmur/client'
import { displayTitle, type DocIndex } from '../app/doc-index.js'
import type { StatusSource } from '../app/handles.js'
import type { Identity } from '../app/identity.js'
import type { OpenDoc } from '../app/session.js'
import type { TaskDoc } from '../tasks/model.js'
import { Disposer, h, type View } from './dom.js'
import { Editor } from './editor.js'
import { HistoryPanel } from './history-panel.js'
import { RichText } from './rich-text.js'
import { TaskBoard } from './task-board.js'

/**
 * One open document: its title (kept in the index), the rich-text document and the plain notes (both in
 * the doc's Y.Doc) and the task board (Automerge, under the same id in its own namespace).
 */
export class DocPage implements View {
  readonly el: HTMLElement
  readonly text: YjsHandle
  readonly tasks: AutomergeHandle<TaskDoc>
  private readonly editor: Editor
  private readonly richText: RichText
  private readonly board: TaskBoard
  private readonly history: HistoryPanel
  private readonly subscriptions = new Disposer()

  constructor(
    readonly doc: OpenDoc,
    index: DocIndex,
    identity: Identity,
  ) {
    const docId = doc.docId
    this.text = doc.text
    this.tasks = doc.tasks
    this.text.awareness.setLocalStateField('user', { name: identity.name, color: identity.color, colorLight: identity.colorLight })

    const title = h('input', { class: 'doc-title', type: 'text', 'aria-label': 'Document title', placeholder: 'Untitled', maxlength: 120, 'data-testid': 'doc-title' })
    const showTitle = (): void => {
      if (document.activeElement === title) return
      const entry = index.get(docId)
      title.value = entry?.title ?? ''
      document.title = `${displayTitle(entry)} · Murmur`
    }
    title.addEventListener('input', () => index.rename(docId, title.value))
    title.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault()
        this.editor.focus()
      }
    })
    title.addEventListener('blur', showTitle)
    this.subscriptions.add(index.onChange(showTitle))
    void index.handle.whenLoaded().then(showTitle)
    showTitle()

    const copy = h('button', { class: 'button button-quiet', type: 'button', title: 'Copy a link to this document' }, 'Copy link')
    copy.addEventListener('click', () => {
      void navigator.clipboard?.writeText(location.href).then(() => {
        copy.textContent = 'Link copied'
        setTimeout(() => (copy.textContent = 'Copy link'), 1500)
      })
    })

    this.richText = new RichText(this.text.doc, this.text.awareness, identity)
    this.editor = new Editor(this.text.doc.getText('body'), this.text.awareness)
    this.board = new TaskBoard(this.tasks)
    this.history = new HistoryPanel(doc.versions, this.text, 'body')
    this.el = h(
      'article',
      { class: 'doc-page', 'data-doc-id': docId },
      h('header', { class: 'doc-head' }, title, h('span', { class: 'doc-id', title: 'Document id' }, docId), copy),
      h(
        'div',
        { class: 'doc-body' },
        h(
          'div',
          { class: 'doc-main' },
          h('section', { class: 'card rich-card', 'aria-label': 'Document' }, h('header', { class: 'card-head' }, h('h2', {}, 'Document'), h('span', { class: 'card-meta' }, 'Yjs · TipTap')), this.richText.el),
          h('section', { class: 'card editor-card', 'aria-label': 'Notes' }, h('header', { class: 'card-head' }, h('h2', {}, 'Notes'), h('span', { class: 'card-meta' }, 'Yjs · CodeMirror')), this.editor.el),
        ),
        this.board.el,
      ),
      this.history.el,
    )
  }

  focusTitle(): void {
    this.el.querySelector<HTMLInputElement>('.doc-title')?.focus()
  }

  /** The handles whose status the badge combines. */
  get statusSources(): StatusSource[] {
    return [this.text, this.tasks]
  }

  setIdentity(identity: Identity): void {
    this.text.awareness.setLocalStateField('user', { name: identity.name, color: identity.color, colorLight: identity.colorLight })
    this.richText.setIdentity(identity)
  }

  /** Leave presence at once (tab closing); the socket's close would do it a moment later. */
  leave(): void {
    this.text.awareness.setLocalState(null)
  }

  /** Unmount; the caller closes the handles. */
  destroy(): void {
    this.subscriptions.dispose()
    this.editor.destroy()
    this.richText.destroy()
    this.board.destroy()
    this.history.destroy()
  }
}
