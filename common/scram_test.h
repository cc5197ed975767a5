/*
 * scram_test.h: test-only seams of scram.h. Not for production code.
 *
 * SCRAM's nonces are random, so a known-answer test (RFC 7677's example) needs
 * to fix them. These calls replace the random nonce an exchange would draw
 * with a given one; everything else runs as in production.
 *
 * Both take `nonce` as 1 to 128 printable ASCII characters without ','
 * (RFC 5802's "printable") and must be called right after the exchange was
 * made, before its first step; otherwise they return ETHER_ERR_INVALID_ARGUMENT
 * and change nothing.
 */
#ifndef ETHER_COMMON_SCRAM_TEST_H
#define ETHER_COMMON_SCRAM_TEST_H

#include "common/scram.h"

/* The client nonce that ether_scram_client_first sends. */
int ether_scram_client_set_nonce_for_test(struct ether_scram_client *client, const char *nonce);

/* The server nonce that ether_scram_server_first appends to the client's. */
int ether_scram_server_set_nonce_for_test(struct ether_scram_server *server, const char *nonce);

#endif
