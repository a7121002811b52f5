import { readFileSync } from 'node:fs'

/**
 * CPU time and resident memory of a process, read from /proc (Linux). Reading from outside works the
 * same for every server, whatever it runs, and costs the measured process nothing.
 */

/** Clock ticks per second of /proc/<pid>/stat; 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100

/** User + system CPU seconds used so far, or NaN if the process is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces; the fields after it are counted from its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return NaN
  }
}

/** Resident set size in bytes, or NaN if the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m === null ? NaN : Number(m[1]) * 1024
  } catch {
    return NaN
  }
}

/** CPU used by a process over an interval, as a fraction of one core (1.0 = one core busy). */
export class CpuMeter {
  private startCpu: number
  private startWall: number

  constructor(private readonly pid: number) {
    this.startCpu = cpuSeconds(pid)
    this.startWall = performance.now()
  }

  restart(): void {
    this.startCpu = cpuSeconds(this.pid)
    this.startWall = performance.now()
  }

  /** Cores busy on average since the start (or the last restart). */
  read(): number {
    const wall = (performance.now() - this.startWall) / 1000
    return wall > 0 ? (cpuSeconds(this.pid) - this.startCpu) / wall : NaN
  }
}

/** Samples a process's RSS every `everyMs` and keeps the peak. */
export class RssPeak {
  peak = 0
  private readonly timer: NodeJS.Timeout

  constructor(pid: number, everyMs = 200) {
    const sample = (): void => {
      const rss = rssBytes(pid)
      if (rss > this.peak) this.peak = rss
    }
    sample()
    this.timer = setInterval(sample, everyMs)
    this.timer.unref()
  }

  stop(): number {
    clearInterval(this.timer)
    return this.peak
  }
}

/** Starts measuring this (the bench) process's CPU; the returned function gives cores busy since. */
export function benchCpu(): () => number {
  const start = process.cpuUsage()
  const wall = performance.now()
  return () => {
    const used = process.cpuUsage(start)
    return (used.user + used.system) / 1000 / (performance.now() - wall)
  }
}
