/*
 * crc32c.h: CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the
 * checksum of every stored entry and every snapshot file.
 *
 * Uses the CPU's CRC32 instruction where it exists (SSE4.2 on x86-64, the CRC
 * extension on AArch64) and a table otherwise; both give identical results,
 * checked against the RFC 3720 (iSCSI) vectors in tests/unit/test_common.c.
 *
 * Incremental use: crc = ether_crc32c_extend(0, a, n); crc =
 * ether_crc32c_extend(crc, b, m) equals ether_crc32c of a followed by b.
 */
#ifndef ETHER_COMMON_CRC32C_H
#define ETHER_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t ether_crc32c(const void *data, size_t size_bytes);
uint32_t ether_crc32c_extend(uint32_t crc, const void *data, size_t size_bytes);

/* The portable implementation, exposed so tests can compare it with the hardware one. */
uint32_t ether_crc32c_extend_portable(uint32_t crc, const void *data, size_t size_bytes);

/* 1 when ether_crc32c uses a CPU instruction on this machine. */
int ether_crc32c_is_hardware(void);

#endif
