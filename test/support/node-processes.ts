import { spawnNode, tempDir, type NodeProcess } from './servers.js'
import { freePort } from './ports.js'
import { SECRET } from './cluster.js'
import { eventually } from './wait.js'

/** One real `murmur serve` process of a cluster, which can be killed and started again on its data. */
export class ClusterNode {
  proc: NodeProcess | null = null

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dataDir: string,
    private readonly peers: readonly string[],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Start the process (again) on the same port and data directory. */
  async start(): Promise<void> {
    this.proc = await spawnNode([
      '--port', String(this.port), '--data-dir', this.dataDir, '--node-id', this.name,
      '--advertise-url', `ws://127.0.0.1:${this.port}`, '--peers', this.peers.join(','), '--cluster-secret', SECRET,
      '--probe-interval-ms', '200', '--anti-entropy-ms', '300',
    ])
  }

  /** kill -9: nothing in memory survives, storage keeps what it committed. */
  async kill(): Promise<void> {
    await this.proc?.kill('SIGKILL')
    this.proc = null
  }

  /** GET /v1/cluster of this node. */
  async cluster(): Promise<ClusterView> {
    return (await (await fetch(`${this.url}/v1/cluster`)).json()) as ClusterView
  }
}

/** The parts of GET /v1/cluster the tests read. */
export interface ClusterView {
  members: { id: string; state: string; connected: boolean }[]
  antiEntropy: { completed: number }
  replication: { hintsPending: number; hintsStored: number; hintsReplayed: number }
}

/** `n` real node processes on loopback (SQLite in a temp dir each), all started. */
export async function startNodeProcesses(n: number): Promise<ClusterNode[]> {
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()))
  const nodes = ports.map((port, i) => {
    const peers = ports.filter((_, j) => j !== i).map((p) => `ws://127.0.0.1:${p}`)
    return new ClusterNode(`node-${'abcdefgh'[i]}`, port, tempDir(), peers)
  })
  for (const node of nodes) await node.start()
  return nodes
}

/** Resolve once every running node of `nodes` sees every other running one alive and linked. */
export async function untilLinked(nodes: readonly ClusterNode[], ms = 30_000): Promise<void> {
  const running = nodes.filter((n) => n.proc !== null)
  await eventually(async () => {
    for (const node of running) {
      const view = await node.cluster()
      const linked = view.members.filter((m) => m.state === 'alive' && m.connected).length
      if (linked < running.length) return false
    }
    return true
  }, ms, 'the running nodes to see each other alive and linked')
}
