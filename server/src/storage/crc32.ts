/**
 * CRC-32 (IEEE 802.3, the one zlib and PNG use: reflected polynomial 0xEDB88320). Every log entry carries
 * one so that a load can tell a torn or rotten entry from a good one. Node's own (zlib's, many times
 * faster than a table in JavaScript); the same function as the table-driven one that wrote older logs.
 */
import { crc32 as zlibCrc32 } from 'node:zlib'

/**
 * The CRC-32 of `data` as an unsigned 32-bit integer. Pass a previous result as `crc` to continue a
 * checksum over data that arrives in pieces.
 */
export function crc32(data: Uint8Array, crc = 0): number {
  return zlibCrc32(data, crc)
}
