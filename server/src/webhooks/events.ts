/** What a webhook POST carries (JSON). */
export type WebhookEvent =
  | {
      readonly event: 'doc.changed'
      readonly engine: string
      readonly docId: string
      /** The doc's version digest after the last change of the window, if it was known then. */
      readonly version: string | null
      /** Changes in the debounce window this event stands for. */
      readonly changes: number
      readonly firstChangeAt: string
      readonly lastChangeAt: string
      /** The node the changes were made on. */
      readonly node: string
    }
  | {
      readonly event: 'doc.deleted'
      readonly engine: string
      readonly docId: string
      readonly deletedAt: string
      readonly node: string
    }
