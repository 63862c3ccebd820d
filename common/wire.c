/* The nng transport: REQ client and REP server (aio state machine per context). */
#include "common/wire.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static ebb_code nng_fail(ebb_error *err, int rv, const char *what, const char *url)
{
    ebb_code code = rv == NNG_ETIMEDOUT ? EBB_E_TIMEOUT
                    : rv == NNG_ENOMEM  ? EBB_E_NOMEM
                                        : EBB_E_NET;
    return ebb_error_set(err, code, "%s %s: %s", what, url, nng_strerror(rv));
}

struct ebb_wire_client {
    nng_socket sock;
    nng_dialer dialer;
    char *url;
    size_t recv_max;
    int rmin, rmax;
    pthread_mutex_t redial_lock; /* one redial at a time */
};

/* Create and start c->dialer with every limit in place before it starts. */
static int start_dialer(ebb_wire_client *c, const char **what)
{
    int rv;
    *what = "dial";
    if ((rv = nng_dialer_create(&c->dialer, c->sock, c->url)) == 0 &&
        (rv = nng_dialer_set_size(c->dialer, NNG_OPT_RECVMAXSZ, c->recv_max)) == 0 &&
        (rv = nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMINT, c->rmin)) == 0 &&
        (rv = nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMAXT, c->rmax)) == 0)
        /* Non-blocking: connect whenever the server comes up. */
        rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK);
    return rv;
}

/*
 * After a timed-out call the connection may be dead without knowing it (a
 * cut link sends no reset): TCP would only notice at its next retransmission,
 * whose interval doubles while the link is down (up to two minutes). Close
 * the dialer (and its pipe) and dial afresh, so the next call goes over a new
 * connection as soon as the peer can be reached.
 */
static void redial(ebb_wire_client *c)
{
    pthread_mutex_lock(&c->redial_lock);
    const char *what;
    nng_dialer_close(c->dialer);
    if (start_dialer(c, &what) != 0)
        c->dialer = (nng_dialer)NNG_DIALER_INITIALIZER; /* the next timeout tries again */
    pthread_mutex_unlock(&c->redial_lock);
}

ebb_code ebb_wire_client_open(const char *url, const ebb_wire_client_opts *opts,
                              ebb_wire_client **out, ebb_error *err)
{
    ebb_wire_client_opts o = opts != NULL ? *opts : (ebb_wire_client_opts){0};
    size_t recv_max = o.recv_max ? o.recv_max : EBB_WIRE_RECV_MAX_DEFAULT;
    int rmin = o.reconnect_min_ms ? o.reconnect_min_ms : 100;
    int rmax = o.reconnect_max_ms ? o.reconnect_max_ms : 5000;

    ebb_wire_client *c = calloc(1, sizeof *c);
    if (c == NULL || (c->url = strdup(url)) == NULL) {
        free(c);
        return ebb_error_set(err, EBB_E_NOMEM, "wire client: out of memory");
    }
    c->recv_max = recv_max;
    c->rmin = rmin;
    c->rmax = rmax;
    pthread_mutex_init(&c->redial_lock, NULL);
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        pthread_mutex_destroy(&c->redial_lock);
        free(c->url);
        free(c);
        return nng_fail(err, rv, "open REQ socket for", url);
    }
    const char *what = "configure REQ socket for";
    /* Every limit and option is in place before the dialer starts. */
    if ((rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, recv_max)) == 0 &&
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) == 0 &&
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, rmin)) == 0 &&
        (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, rmax)) == 0)
        rv = start_dialer(c, &what);
    if (rv != 0) {
        ebb_code code = nng_fail(err, rv, what, url);
        ebb_wire_client_close(c);
        return code;
    }
    *out = c;
    return EBB_OK;
}

void ebb_wire_client_close(ebb_wire_client *c)
{
    if (c == NULL)
        return;
    nng_close(c->sock);
    pthread_mutex_destroy(&c->redial_lock);
    free(c->url);
    free(c);
}

/* Run one aio operation to completion; the result code. */
static int run_aio(nng_aio *aio, void (*op)(nng_ctx, nng_aio *), nng_ctx ctx, nng_duration ms)
{
    nng_aio_set_timeout(aio, ms);
    op(ctx, aio);
    nng_aio_wait(aio);
    return nng_aio_result(aio);
}

ebb_code ebb_wire_client_call(ebb_wire_client *c, const uint8_t *request, size_t len,
                              int timeout_ms, uint8_t **reply, size_t *reply_len, ebb_error *err)
{
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *msg = NULL;
    int rv = nng_ctx_open(&ctx, c->sock);
    if (rv != 0)
        return nng_fail(err, rv, "open request context for", c->url);
    ebb_code rc = EBB_OK;
    const char *what = "send request to";
    if ((rv = nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
        (rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 || (rv = nng_msg_alloc(&msg, 0)) != 0 ||
        (rv = nng_msg_append(msg, request, len)) != 0) {
        rc = nng_fail(err, rv, "prepare request to", c->url);
        goto out;
    }
    nng_time deadline = nng_clock() + (nng_time)(timeout_ms > 0 ? timeout_ms : 0);
    nng_aio_set_msg(aio, msg);
    rv = run_aio(aio, nng_ctx_send, ctx, timeout_ms);
    if (rv != 0) {
        /* Not sent: the message is still ours. */
        goto fail;
    }
    msg = NULL;
    what = "wait for the reply from";
    nng_time now = nng_clock();
    rv = now >= deadline ? NNG_ETIMEDOUT
                         : run_aio(aio, nng_ctx_recv, ctx, (nng_duration)(deadline - now));
    if (rv != 0)
        goto fail;
    msg = nng_aio_get_msg(aio);
    size_t n = nng_msg_len(msg);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        rc = ebb_error_set(err, EBB_E_NOMEM, "reply from %s: out of memory", c->url);
        goto out;
    }
    memcpy(buf, nng_msg_body(msg), n);
    *reply = buf;
    *reply_len = n;
    goto out;
fail:
    rc = nng_fail(err, rv, what, c->url);
    if (rv == NNG_ETIMEDOUT) {
        ebb_error_prefix(err, "no reply within %d ms (the request may have been delivered)",
                         timeout_ms);
        redial(c);
    }
    else if (rv == NNG_ECONNRESET || rv == NNG_ECLOSED)
        ebb_error_prefix(err, "connection lost before the reply (the request may have been "
                              "delivered)");
out:
    if (msg != NULL)
        nng_msg_free(msg);
    if (aio != NULL)
        nng_aio_free(aio);
    nng_ctx_close(ctx);
    return rc;
}

/* ---- server ---- */

enum work_state { W_RECV, W_HANDLE, W_SEND };

struct ebb_wire_request {
    ebb_wire_server *srv;
    nng_aio *aio;
    nng_ctx ctx;
    enum work_state state;
    nng_msg *request; /* the message being handled (W_HANDLE) */
    bool opened;      /* ctx was opened */
};

struct ebb_wire_server {
    nng_socket sock;
    nng_listener listener;
    ebb_wire_handler_fn handler;
    void *handler_ctx;
    pthread_mutex_t mutex; /* guards closing and every state change made by a reply */
    bool closing;
    int nworks;
    ebb_wire_request *works;
    char *url;
};

static void work_cb(void *arg)
{
    ebb_wire_request *w = arg;
    int rv = nng_aio_result(w->aio);
    switch (w->state) {
    case W_RECV:
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            return; /* the server is closing */
        if (rv != 0) {
            nng_ctx_recv(w->ctx, w->aio);
            return;
        }
        w->request = nng_aio_get_msg(w->aio);
        w->state = W_HANDLE;
        /* The handler may reply now or later; w is not touched after this call. */
        w->srv->handler(w->srv->handler_ctx, w, nng_msg_body(w->request), nng_msg_len(w->request));
        return;
    case W_SEND:
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(w->aio));
            if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
                return;
        }
        w->state = W_RECV;
        nng_ctx_recv(w->ctx, w->aio);
        return;
    case W_HANDLE:
        return; /* no operation is pending in this state */
    }
}

ebb_code ebb_wire_reply(ebb_wire_request *w, const uint8_t *data, size_t len, ebb_error *err)
{
    ebb_wire_server *srv = w->srv;
    nng_msg *msg = NULL;
    int rv = nng_msg_alloc(&msg, 0);
    if (rv == 0)
        rv = nng_msg_append(msg, data, len);
    if (rv != 0) {
        if (msg != NULL)
            nng_msg_free(msg);
        return ebb_error_set(err, EBB_E_NOMEM, "reply on %s: %s", srv->url, nng_strerror(rv));
    }
    ebb_code rc = EBB_OK;
    /* Held across the send so that close never frees the aio under us. */
    pthread_mutex_lock(&srv->mutex);
    if (srv->closing) {
        rc = ebb_error_set(err, EBB_E_NET, "reply on %s dropped: the server is closing", srv->url);
    } else if (w->state != W_HANDLE) {
        rc = ebb_error_set(err, EBB_E_CONFLICT, "reply on %s: request already answered", srv->url);
    } else {
        nng_msg_free(w->request);
        w->request = NULL;
        w->state = W_SEND;
        nng_aio_set_msg(w->aio, msg);
        msg = NULL;
        nng_ctx_send(w->ctx, w->aio);
    }
    pthread_mutex_unlock(&srv->mutex);
    if (msg != NULL)
        nng_msg_free(msg);
    return rc;
}

ebb_code ebb_wire_server_open(const char *url, const ebb_wire_server_opts *opts,
                              ebb_wire_handler_fn handler, void *handler_ctx, ebb_wire_server **out,
                              ebb_error *err)
{
    ebb_wire_server_opts o = opts != NULL ? *opts : (ebb_wire_server_opts){0};
    size_t recv_max = o.recv_max ? o.recv_max : EBB_WIRE_RECV_MAX_DEFAULT;
    int n = o.contexts > 0 ? o.contexts : EBB_WIRE_CONTEXTS_DEFAULT;

    ebb_wire_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "wire server: out of memory");
    srv->works = calloc((size_t)n, sizeof *srv->works);
    srv->url = strdup(url);
    if (srv->works == NULL || srv->url == NULL || pthread_mutex_init(&srv->mutex, NULL) != 0) {
        free(srv->works);
        free(srv->url);
        free(srv);
        return ebb_error_set(err, EBB_E_NOMEM, "wire server: out of memory");
    }
    srv->handler = handler;
    srv->handler_ctx = handler_ctx;
    int rv = nng_rep0_open(&srv->sock);
    if (rv != 0) {
        pthread_mutex_destroy(&srv->mutex);
        free(srv->works);
        free(srv->url);
        free(srv);
        return nng_fail(err, rv, "open REP socket for", url);
    }
    const char *what = "configure REP socket for";
    rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, recv_max);
    for (int i = 0; rv == 0 && i < n; i++) {
        ebb_wire_request *w = &srv->works[i];
        w->srv = srv;
        if ((rv = nng_aio_alloc(&w->aio, work_cb, w)) == 0 &&
            (rv = nng_ctx_open(&w->ctx, srv->sock)) == 0) {
            w->opened = true;
            w->state = W_RECV;
            nng_ctx_recv(w->ctx, w->aio);
        }
        srv->nworks = i + 1;
    }
    /* The limit is on the listener too, before it accepts anything. */
    if (rv == 0 &&
        (what = "listen on", rv = nng_listener_create(&srv->listener, srv->sock, url)) == 0 &&
        (rv = nng_listener_set_size(srv->listener, NNG_OPT_RECVMAXSZ, recv_max)) == 0)
        rv = nng_listener_start(srv->listener, 0);
    if (rv != 0) {
        ebb_code code = nng_fail(err, rv, what, url);
        ebb_wire_server_close(srv);
        return code;
    }
    *out = srv;
    return EBB_OK;
}

void ebb_wire_server_close(ebb_wire_server *srv)
{
    if (srv == NULL)
        return;
    pthread_mutex_lock(&srv->mutex);
    srv->closing = true;
    pthread_mutex_unlock(&srv->mutex);
    /* Stop every state machine: waits for running callbacks (and handlers). */
    for (int i = 0; i < srv->nworks; i++)
        if (srv->works[i].aio != NULL)
            nng_aio_stop(srv->works[i].aio);
    for (int i = 0; i < srv->nworks; i++) {
        ebb_wire_request *w = &srv->works[i];
        if (w->opened)
            nng_ctx_close(w->ctx);
        if (w->request != NULL)
            nng_msg_free(w->request); /* a request nobody answered */
        if (w->aio != NULL)
            nng_aio_free(w->aio);
    }
    nng_close(srv->sock);
    pthread_mutex_destroy(&srv->mutex);
    free(srv->works);
    free(srv->url);
    free(srv);
}
