/*
 * http.h: etherd's operator endpoint: a tiny HTTP/1.1 server on
 * listen_host:http_port that answers GET /health and GET /metrics
 * (Prometheus text format 0.0.4) from the broker's loop thread.
 *
 * Owns: its listening socket and its connections. Limits: one request per
 * connection, a request head of at most HTTP_REQUEST_HEAD_BYTES_MAX, a
 * bounded number of connections and a read timeout; every answer carries
 * `Connection: close` and the connection is closed once it is written.
 * Only GET is served: another method gets 405, another path 404, a head
 * that is malformed or too large 400.
 */
#ifndef ETHER_BROKER_HTTP_H
#define ETHER_BROKER_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct broker;
struct broker_http;

/*
 * Listens on host:port and serves `broker`'s health and metrics; `broker`
 * must outlive the server. Returns 0 or an error with a sentence in errbuf.
 */
int broker_http_start(uv_loop_t *loop, struct broker *broker, const char *host, uint16_t port,
                      struct broker_http **http_out, char *errbuf, size_t errbuf_size);

/* Closes the listener and every connection; `on_stopped` (may be NULL) runs once all is freed. */
void broker_http_stop(struct broker_http *http, void (*on_stopped)(void *context), void *context);

#endif
