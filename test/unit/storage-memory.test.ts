import { MemoryDisk, MemoryStorage } from '../../server/dist/storage/index.js'
import { runStorageAcceptance, type StorageHarness } from '@murmur/server/testing'

runStorageAcceptance('memory', async (): Promise<StorageHarness> => {
  // The disk outlives each MemoryStorage, so a new instance over it is a restart.
  const disk = new MemoryDisk()
  let storage = new MemoryStorage(disk)
  return {
    get storage() {
      return storage
    },
    async reopen() {
      await storage.close()
      storage = new MemoryStorage(disk)
      return storage
    },
    async corruptLastEntry(key) {
      if (!disk.corruptLastEntry(key)) throw new Error('no log entry to corrupt')
    },
    async failWrites(fail) {
      disk.failWrites = fail ? new Error('simulated disk failure') : null
    },
    async cleanup() {
      await storage.close()
    },
  }
})
