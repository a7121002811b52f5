import { createContext, createElement, useContext, useEffect, type ReactNode } from 'react'
import type { MurmurClient } from '@murmur/client'

const ClientContext = createContext<MurmurClient | null>(null)

export interface MurmurProviderProps {
  /** The client every hook below uses; create it once, outside of rendering. */
  readonly client: MurmurClient
  /**
   * The current auth token. When it changes (a refreshed JWT), it is handed to the server on the live
   * socket at once, without a reconnect; after a refusal, the client connects again with it.
   */
  readonly token?: string
  readonly children?: ReactNode
}

/** Makes `client` available to the Murmur hooks below it. */
export function MurmurProvider({ client, token, children }: MurmurProviderProps): ReactNode {
  useEffect(() => {
    if (token !== undefined) client.setToken(token)
  }, [client, token])
  return createElement(ClientContext.Provider, { value: client }, children)
}

/** The client of the nearest `MurmurProvider`. */
export function useMurmurClient(): MurmurClient {
  const client = useContext(ClientContext)
  if (client === null) throw new Error('useMurmurClient: no MurmurProvider above this component')
  return client
}
