import { useEffect } from 'react'
import { useMurmurClient } from './context.js'

/**
 * Refresh the auth token every `everyMs` while mounted: the client asks its `getToken` for a fresh one
 * and hands it to the server on the live socket, without a reconnect. For tokens that come as props
 * instead, pass them to `MurmurProvider`'s `token`.
 */
export function useTokenRefresh(everyMs: number): void {
  const client = useMurmurClient()
  useEffect(() => {
    const timer = setInterval(() => void client.refreshToken(), everyMs)
    return () => clearInterval(timer)
  }, [client, everyMs])
}
