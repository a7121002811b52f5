import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import type { ServerConfig } from '../config.js'
import { StartupError, firstLine } from '../startup-error.js'

/** What a node serves HTTPS/WSS with, and what its outgoing wss:// peer links trust. */
export interface NodeTls {
  /** Certificate and key of the node's port; null: plain HTTP/WS. */
  readonly serve: { readonly cert: Buffer; readonly key: Buffer } | null
  /** CA bundle of `--peer-ca`; null: the system's CAs. */
  readonly peerCa: Buffer | null
}

function readPem(flag: string, file: string, what: string): Buffer {
  let pem: Buffer
  try {
    pem = readFileSync(file)
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : firstLine(err)
    throw new StartupError(`--${flag} ${file}: cannot read the ${what} (${code}); check the path and its permissions`)
  }
  if (!pem.toString('latin1').includes('-----BEGIN ')) throw new StartupError(`--${flag} ${file}: not a PEM file (no "-----BEGIN" line); give the ${what} in PEM form`)
  return pem
}

/**
 * Read and check the TLS files of the config once, before the node opens anything: a missing or
 * unreadable file, or a key that does not belong to its certificate, is a one-line StartupError.
 */
export function readNodeTls(config: Pick<ServerConfig, 'tlsCert' | 'tlsKey' | 'peerCa'>): NodeTls {
  const { tlsCert, tlsKey, peerCa } = config
  if ((tlsCert === null) !== (tlsKey === null)) {
    throw new StartupError(tlsCert === null ? '--tls-key needs --tls-cert (the certificate it belongs to)' : '--tls-cert needs --tls-key (its private key)')
  }
  let serve: NodeTls['serve'] = null
  if (tlsCert !== null && tlsKey !== null) {
    const cert = readPem('tls-cert', tlsCert, 'certificate')
    const key = readPem('tls-key', tlsKey, 'private key')
    try {
      createSecureContext({ cert, key })
    } catch (err) {
      throw new StartupError(`--tls-cert ${tlsCert} / --tls-key ${tlsKey}: not a usable certificate and key (${firstLine(err)}); check that the key belongs to the certificate`)
    }
    serve = { cert, key }
  }
  const ca = peerCa === null ? null : readPem('peer-ca', peerCa, 'CA bundle')
  if (ca !== null) {
    try {
      createSecureContext({ ca })
    } catch (err) {
      throw new StartupError(`--peer-ca ${peerCa}: not a usable CA bundle (${firstLine(err)})`)
    }
  }
  return { serve, peerCa: ca }
}
