/* The nng transport: a REQ client with per-call timeouts and a REP server of aio contexts. */
#ifndef EBB_COMMON_WIRE_H
#define EBB_COMMON_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Transport limit (NNG_OPT_RECVMAXSZ) unless the options say otherwise. */
#define EBB_WIRE_RECV_MAX_DEFAULT (4u * 1024 * 1024)
#define EBB_WIRE_CONTEXTS_DEFAULT 64

/*
 * The wire carries opaque bytes (sealed envelopes); it knows nothing of
 * keys. A message over recv_max makes nng drop the connection before any
 * of it reaches ebb; the sender's pending call fails (EBB_E_NET, connection
 * reset) or times out, and it reconnects.
 */
typedef struct ebb_wire_client_opts {
    size_t recv_max;      /* bytes; 0 = EBB_WIRE_RECV_MAX_DEFAULT */
    int reconnect_min_ms; /* first reconnect delay; 0 = 100 */
    int reconnect_max_ms; /* backoff cap; 0 = 5000 */
} ebb_wire_client_opts;

typedef struct ebb_wire_client ebb_wire_client;

/*
 * A REQ client of url (tcp://host:port, ipc:///path). The dial does not
 * block: the client connects when the server appears and reconnects with
 * backoff. REQ resend is off (a resend would deliver a command twice).
 * opts may be NULL. *out owned by the caller (ebb_wire_client_close).
 */
EBB_MUSTCHECK ebb_code ebb_wire_client_open(const char *url, const ebb_wire_client_opts *opts,
                                            ebb_wire_client **out, ebb_error *err);

/*
 * Send one request and wait for its reply, at most timeout_ms in all.
 * Safe from several threads at once (each call has its own nng context).
 * EBB_E_TIMEOUT, and EBB_E_NET after the connection dropped, mean the
 * request may or may not have been delivered (it is never resent).
 * After a timeout the client closes its connection and dials again: a link
 * that died silently (no reset) is not waited on through TCP's growing
 * retransmission interval; calls of other threads in flight on the old
 * connection then fail with EBB_E_NET.
 * *reply is malloc'd (caller frees); set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_wire_client_call(ebb_wire_client *client, const uint8_t *request,
                                            size_t len, int timeout_ms, uint8_t **reply,
                                            size_t *reply_len, ebb_error *err);

void ebb_wire_client_close(ebb_wire_client *client);

typedef struct ebb_wire_server_opts {
    size_t recv_max; /* bytes; 0 = EBB_WIRE_RECV_MAX_DEFAULT */
    int contexts;    /* requests in flight at once; 0 = EBB_WIRE_CONTEXTS_DEFAULT */
} ebb_wire_server_opts;

typedef struct ebb_wire_server ebb_wire_server;

/* One received request; owned by the server, valid until it is replied to. */
typedef struct ebb_wire_request ebb_wire_request;

/*
 * Called on an nng thread for each request; data is valid until the reply.
 * The handler must call ebb_wire_reply exactly once for req, either before
 * it returns or later from any thread (deferred reply, for long polls).
 * Until then the context serves nobody else, so keep handlers short and
 * defer slow work.
 */
typedef void (*ebb_wire_handler_fn)(void *ctx, ebb_wire_request *req, const uint8_t *data,
                                    size_t len);

/*
 * A REP server listening on url, with opts->contexts aio state machines
 * (receive -> handler -> send -> receive). opts may be NULL. The handler
 * and handler_ctx are kept. *out owned by the caller (ebb_wire_server_close).
 */
EBB_MUSTCHECK ebb_code ebb_wire_server_open(const char *url, const ebb_wire_server_opts *opts,
                                            ebb_wire_handler_fn handler, void *handler_ctx,
                                            ebb_wire_server **out, ebb_error *err);

/*
 * Reply to req with len bytes (copied). EBB_E_CONFLICT when req was already
 * replied to, EBB_E_NET when the server is closing (the reply is dropped).
 */
EBB_MUSTCHECK ebb_code ebb_wire_reply(ebb_wire_request *req, const uint8_t *data, size_t len,
                                      ebb_error *err);

/*
 * Stop and free: no handler runs after it returns, requests not replied to
 * are dropped. Replies racing with close are dropped safely; calling
 * ebb_wire_reply after close returned is a use after free.
 */
void ebb_wire_server_close(ebb_wire_server *server);

#endif
