import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { EditorState } from '@codemirror/state'
import { EditorView, drawSelection, highlightActiveLine, keymap, placeholder } from '@codemirror/view'
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import { h, type View } from './dom.js'

const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '16px' },
  '&.cm-focused': { outline: 'none' },
  '.cm-scroller': { fontFamily: 'var(--font-sans)', lineHeight: '1.7', padding: '14px 0' },
  '.cm-content': { padding: '0 22px', caretColor: 'var(--accent)' },
  '.cm-activeLine': { backgroundColor: 'var(--active-line)' },
  '.cm-placeholder': { color: 'var(--muted)' },
  '.cm-ySelectionInfo': { fontFamily: 'var(--font-sans)', fontWeight: '600', borderRadius: '4px', padding: '1px 5px', top: '-1.35em', opacity: '1' },
})

/**
 * The shared text: CodeMirror 6 bound to a Y.Text with y-codemirror.next. Remote carets and selections come
 * from the doc's awareness (each user's `user.name` and `user.color`); undo only undoes your own edits.
 */
export class Editor implements View {
  readonly el: HTMLElement
  private readonly view: EditorView
  private readonly undoManager: Y.UndoManager

  constructor(text: Y.Text, awareness: Awareness) {
    this.el = h('div', { class: 'editor', 'data-testid': 'editor' })
    this.undoManager = new Y.UndoManager(text)
    this.view = new EditorView({
      parent: this.el,
      state: EditorState.create({
        doc: text.toString(),
        extensions: [
          keymap.of([...yUndoManagerKeymap, ...defaultKeymap, indentWithTab]),
          drawSelection(),
          highlightActiveLine(),
          EditorView.lineWrapping,
          EditorView.contentAttributes.of({ 'aria-label': 'Shared notes' }),
          placeholder('Write something together…'),
          theme,
          yCollab(text, awareness, { undoManager: this.undoManager }),
        ],
      }),
    })
  }

  focus(): void {
    this.view.focus()
  }

  destroy(): void {
    this.view.destroy()
    this.undoManager.destroy()
  }
}
