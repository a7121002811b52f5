import { Worker } from 'node:worker_threads'
import { storageError } from './group-commit.js'
import type { WriterCall, WriterOp, WriterReply, WriterRequest, WriterResult } from './sqlite-writer-protocol.js'

interface PendingCall {
  resolve(result: unknown): void
  reject(err: unknown): void
}

/** An error the writer reported, with SQLite's code (SQLITE_BUSY, ...) when it had one. */
class WriterError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message)
    this.name = 'SqliteWriterError'
  }
}

/**
 * The main thread's handle on a SqliteStorage's writer thread (sqlite-writer.ts). `call` posts one
 * request and resolves with the writer's reply, which the writer sends after the transaction committed.
 * If the thread dies, every call waiting on it and every later call rejects with MUR_ERR_STORAGE_FAILED.
 */
export class WriterThread {
  private readonly worker: Worker
  private readonly calls = new Map<number, PendingCall>()
  private nextId = 1
  /** Set once the thread is gone, or going: the error every call gets from then on. */
  private ended: Error | null = null
  /** What killed the thread, when an uncaught error did. */
  private crash: Error | null = null
  private stopping = false
  private readonly exited: Promise<void>
  /** Told once if the thread ends other than by `stop()`: no write can succeed any more. */
  onUnexpectedExit: ((error: Error) => void) | null = null

  constructor() {
    this.worker = new Worker(new URL('./sqlite-writer.js', import.meta.url))
    // An idle writer does not keep the process alive; a pending call does (see track()).
    this.worker.unref()
    this.worker.on('message', (reply: WriterReply) => this.settle(reply))
    this.worker.on('error', (err) => {
      this.crash = err
    })
    // A reply that cannot be read leaves its call unanswerable: end the thread rather than let it hang.
    this.worker.on('messageerror', (err) => {
      this.crash = err
      void this.worker.terminate()
    })
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        const error = this.stopping
          ? storageError('storage is closed')
          : storageError(`sqlite: the writer thread exited unexpectedly (exit code ${code})`, this.crash ?? undefined)
        this.fail(error)
        if (!this.stopping) this.onUnexpectedExit?.(error)
        resolve()
      })
    })
  }

  /** Runs `request` on the writer. Buffers in `transfer` move to the writer and are unusable here after. */
  call<K extends WriterOp>(request: WriterRequest<K>, transfer: readonly ArrayBuffer[] = []): Promise<WriterResult<K>> {
    if (this.ended) return Promise.reject(this.ended)
    const id = this.nextId++
    return new Promise<WriterResult<K>>((resolve, reject) => {
      const message: WriterCall = { id, request: request as WriterRequest }
      try {
        this.worker.postMessage(message, transfer)
      } catch (err) {
        reject(storageError(`sqlite: could not send ${request.op} to the writer thread`, err))
        return
      }
      if (this.calls.size === 0) this.worker.ref()
      this.calls.set(id, { resolve: resolve as (result: unknown) => void, reject })
    })
  }

  /** Closes the write connection after every request posted before, then ends the thread. */
  async stop(): Promise<void> {
    if (!this.ended && !this.stopping) {
      try {
        await this.call({ op: 'close' })
      } finally {
        this.stopping = true
        await this.worker.terminate()
      }
    }
    await this.exited
  }

  /** Ends the thread at once, as a crash would. */
  async kill(): Promise<void> {
    await this.worker.terminate()
    await this.exited
  }

  private settle(reply: WriterReply): void {
    const call = this.calls.get(reply.id)
    if (!call) return
    this.calls.delete(reply.id)
    if (this.calls.size === 0) this.worker.unref()
    if (reply.ok) call.resolve(reply.result)
    else call.reject(new WriterError(reply.message, reply.code))
  }

  private fail(error: Error): void {
    this.ended ??= error
    const calls = [...this.calls.values()]
    this.calls.clear()
    for (const call of calls) call.reject(error)
  }
}
