/* Reading and verifying journal files: line framing, per-record checks, scan, verify, reports. */
#include "common/journal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"

static const char *const fault_names[] = {
    [EBB_JOURNAL_FAULT_NONE] = "none",
    [EBB_JOURNAL_FAULT_TORN_TAIL] = "torn-tail",
    [EBB_JOURNAL_FAULT_UNPARSABLE] = "unparsable",
    [EBB_JOURNAL_FAULT_NOT_CANONICAL] = "not-canonical",
    [EBB_JOURNAL_FAULT_SEQ] = "sequence-gap",
    [EBB_JOURNAL_FAULT_PREV] = "previous-hash-mismatch",
    [EBB_JOURNAL_FAULT_HASH] = "hash-mismatch",
    [EBB_JOURNAL_FAULT_UNSIGNED] = "unsigned",
    [EBB_JOURNAL_FAULT_SIGNER] = "wrong-signer",
    [EBB_JOURNAL_FAULT_SIGNATURE] = "bad-signature",
    [EBB_JOURNAL_FAULT_ANCHOR] = "anchor-mismatch",
};

const char *ebb_journal_fault_name(ebb_journal_fault fault)
{
    if ((unsigned)fault < sizeof fault_names / sizeof fault_names[0] && fault_names[fault])
        return fault_names[fault];
    return "unknown";
}

void ebb_journal_hash_hex(const uint8_t hash[EBB_JOURNAL_HASH_LEN],
                          char out[EBB_JOURNAL_HASH_HEX_SIZE])
{
    sodium_bin2hex(out, EBB_JOURNAL_HASH_HEX_SIZE, hash, EBB_JOURNAL_HASH_LEN);
}

ebb_code ebb_journal_anchor_parse(const char *text, ebb_journal_anchor *out, ebb_error *err)
{
    const char *colon = text ? strchr(text, ':') : NULL;
    if (colon == NULL || colon == text)
        return ebb_error_set(err, EBB_E_INVALID, "anchor '%s' is not SEQ:HASH", text ? text : "");
    char *end = NULL;
    errno = 0;
    unsigned long long seq = strtoull(text, &end, 10);
    if (errno != 0 || end != colon || seq == 0 || text[0] == '-' || text[0] == '+')
        return ebb_error_set(err, EBB_E_INVALID, "anchor '%s': bad sequence number", text);
    ebb_journal_anchor a;
    size_t n = 0;
    if (strlen(colon + 1) != EBB_JOURNAL_HASH_LEN * 2 ||
        ebb_hex_decode(colon + 1, a.hash, sizeof a.hash, &n, NULL) != EBB_OK ||
        n != EBB_JOURNAL_HASH_LEN)
        return ebb_error_set(err, EBB_E_INVALID, "anchor '%s': hash is not 64 hex characters",
                             text);
    a.seq = seq;
    *out = a;
    return EBB_OK;
}

void jr_report_init(ebb_journal_report *rep)
{
    memset(rep, 0, sizeof *rep);
}

void jr_fault(ebb_journal_report *rep, ebb_journal_fault fault, uint64_t line, uint64_t seq,
              uint64_t offset, const char *fmt, ...)
{
    rep->fault = fault;
    rep->bad_line = line;
    rep->bad_seq = seq;
    rep->bad_offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->why, sizeof rep->why, fmt, ap);
    va_end(ap);
}

ebb_code jr_fault_error(const char *path, const ebb_journal_report *rep, ebb_error *err)
{
    if (rep->bad_seq != 0)
        return ebb_error_set(
            err, EBB_E_VERIFY, "journal %s: line %" PRIu64 " (seq %" PRIu64 "): %s: %s", path,
            rep->bad_line, rep->bad_seq, ebb_journal_fault_name(rep->fault), rep->why);
    return ebb_error_set(err, EBB_E_VERIFY, "journal %s: line %" PRIu64 ": %s: %s", path,
                         rep->bad_line, ebb_journal_fault_name(rep->fault), rep->why);
}

/* ---- hashing and canonical form (shared with the writer) ---- */

void jr_hash(const char *canon, size_t len, uint8_t out[EBB_JOURNAL_HASH_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, EBB_JOURNAL_HASH_LEN);
    crypto_generichash_update(&st, (const unsigned char *)JR_DOMAIN, strlen(JR_DOMAIN));
    crypto_generichash_update(&st, (const unsigned char *)canon, len);
    crypto_generichash_final(&st, out, EBB_JOURNAL_HASH_LEN);
}

uint8_t *jr_signed_message(const char *canon, size_t len, size_t *out_len)
{
    size_t dl = strlen(JR_DOMAIN);
    uint8_t *msg = malloc(dl + len);
    if (msg == NULL)
        return NULL;
    memcpy(msg, JR_DOMAIN, dl);
    memcpy(msg + dl, canon, len);
    *out_len = dl + len;
    return msg;
}

bool jr_has_real(const json_t *v)
{
    if (json_is_real(v))
        return true;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (jr_has_real(x))
                return true;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (jr_has_real(x))
                return true;
        }
    }
    return false;
}

bool jr_type_valid(const char *type)
{
    size_t n = type ? strlen(type) : 0;
    if (n == 0 || n > EBB_JOURNAL_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = type[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* ---- line framing over pread, bounded ---- */

#define LR_CHUNK 65536

void jr_lines_init(jr_lines *lr, int fd, uint64_t limit)
{
    memset(lr, 0, sizeof *lr);
    lr->fd = fd;
    lr->limit = limit;
}

void jr_lines_fini(jr_lines *lr)
{
    free(lr->buf);
    lr->buf = NULL;
}

/* Read more bytes after end; 1 when some were read, 0 at the end, -1 (errno) on error. */
static int lr_fill(jr_lines *lr)
{
    if (lr->buf == NULL) {
        lr->cap = EBB_JOURNAL_LINE_MAX + LR_CHUNK;
        lr->buf = malloc(lr->cap);
        if (lr->buf == NULL) {
            errno = ENOMEM;
            return -1;
        }
    }
    if (lr->start > 0) {
        memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
        lr->end -= lr->start;
        lr->pos += lr->start;
        lr->start = 0;
    }
    uint64_t file_pos = lr->pos + lr->end; /* lr->pos is the file offset of buf[0] */
    if (file_pos >= lr->limit)
        return 0;
    size_t want = lr->cap - lr->end;
    if (want > LR_CHUNK)
        want = LR_CHUNK;
    if ((uint64_t)want > lr->limit - file_pos)
        want = (size_t)(lr->limit - file_pos);
    if (want == 0)
        return 0;
    for (;;) {
        ssize_t n = pread(lr->fd, lr->buf + lr->end, want, (off_t)file_pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        lr->end += (size_t)n;
        return 1;
    }
}

int jr_lines_next(jr_lines *lr, jr_line *out)
{
    for (;;) {
        if (lr->buf != NULL && lr->end > lr->start) {
            char *s = lr->buf + lr->start;
            size_t avail = lr->end - lr->start;
            char *nl = memchr(s, '\n', avail);
            if (nl != NULL || avail >= EBB_JOURNAL_LINE_MAX) {
                size_t len = nl ? (size_t)(nl - s) : avail;
                out->text = s;
                out->len = len;
                out->offset = lr->pos + lr->start;
                out->has_newline = nl != NULL;
                out->too_long = nl == NULL || len + 1 > EBB_JOURNAL_LINE_MAX;
                out->number = ++lr->lines;
                lr->start += nl ? len + 1 : len;
                if (lr->start == lr->end) {
                    lr->pos += lr->end;
                    lr->start = lr->end = 0;
                }
                return 1;
            }
        }
        int r = lr_fill(lr);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (lr->buf == NULL || lr->end == lr->start)
                return 0;
            /* The end of the data without a newline: a torn last line. */
            out->text = lr->buf + lr->start;
            out->len = lr->end - lr->start;
            out->offset = lr->pos + lr->start;
            out->has_newline = false;
            out->too_long = false;
            out->number = ++lr->lines;
            lr->pos += lr->end;
            lr->start = lr->end = 0;
            return 1;
        }
    }
}

bool jr_lines_at_end(jr_lines *lr)
{
    if (lr->buf != NULL && lr->end > lr->start)
        return false;
    int r = lr_fill(lr);
    return r <= 0 && (lr->buf == NULL || lr->end == lr->start);
}

/* ---- checking one record against the chain ---- */

static bool hex_field(json_t *obj, const char *key, uint8_t *out, size_t len)
{
    json_t *v = json_object_get(obj, key);
    const char *s = json_string_value(v);
    size_t n = 0;
    return s != NULL && strlen(s) == len * 2 && ebb_hex_decode(s, out, len, &n, NULL) == EBB_OK &&
           n == len;
}

static const char *const known_fields[] = {"v",    "seq",  "ts",  "type", "payload",
                                           "prev", "hash", "key", "sig"};

static bool known_field(const char *k)
{
    for (size_t i = 0; i < sizeof known_fields / sizeof known_fields[0]; i++)
        if (strcmp(k, known_fields[i]) == 0)
            return true;
    return false;
}

/* Fill rec from obj, or set an UNPARSABLE fault. */
static bool decode_fields(json_t *obj, const jr_line *ln, ebb_journal_record *rec,
                          ebb_journal_report *rep)
{
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x)
    {
        if (!known_field(k)) {
            jr_fault(rep, EBB_JOURNAL_FAULT_UNPARSABLE, ln->number, 0, ln->offset,
                     "unknown field '%.40s'", k);
            return false;
        }
    }
    json_t *seq = json_object_get(obj, "seq");
    uint64_t seqv =
        json_is_integer(seq) && json_integer_value(seq) > 0 ? (uint64_t)json_integer_value(seq) : 0;
    const char *what = NULL;
    json_t *ver = json_object_get(obj, "v");
    json_t *ts = json_object_get(obj, "ts");
    json_t *type = json_object_get(obj, "type");
    json_t *payload = json_object_get(obj, "payload");
    json_t *key = json_object_get(obj, "key");
    json_t *sig = json_object_get(obj, "sig");
    memset(rec, 0, sizeof *rec);
    if (!json_is_integer(ver) || json_integer_value(ver) != JR_VERSION)
        what = "'v' is missing or not 1";
    else if (seqv == 0)
        what = "'seq' is missing or not a positive integer";
    else if (!json_is_integer(ts) || json_integer_value(ts) < 0)
        what = "'ts' is missing or not a non-negative integer";
    else if (!jr_type_valid(json_string_value(type)))
        what = "'type' is missing or not [a-z0-9_.-]{1,64}";
    else if (!json_is_object(payload))
        what = "'payload' is missing or not an object";
    else if (!hex_field(obj, "prev", rec->prev, EBB_JOURNAL_HASH_LEN))
        what = "'prev' is missing or not 64 hex characters";
    else if (!hex_field(obj, "hash", rec->hash, EBB_JOURNAL_HASH_LEN))
        what = "'hash' is missing or not 64 hex characters";
    else if ((key == NULL) != (sig == NULL))
        what = "'key' and 'sig' must both be present or both absent";
    else if (key != NULL &&
             (!json_is_string(key) ||
              ebb_key_id_parse(json_string_value(key), &rec->signer, NULL) != EBB_OK))
        what = "'key' is not a 16-hex-character key id";
    else if (sig != NULL) {
        size_t n = 0;
        const char *s = json_string_value(sig);
        if (s == NULL || ebb_base64_decode(s, rec->sig, sizeof rec->sig, &n, NULL) != EBB_OK ||
            n != EBB_SIGNATURE_LEN)
            what = "'sig' is not a base64 Ed25519 signature";
    }
    if (what != NULL) {
        jr_fault(rep, EBB_JOURNAL_FAULT_UNPARSABLE, ln->number, seqv, ln->offset, "%s", what);
        return false;
    }
    rec->seq = seqv;
    rec->ts_ms = (int64_t)json_integer_value(ts);
    rec->type = json_string_value(type);
    rec->payload = payload;
    rec->is_signed = key != NULL;
    rec->line = ln->number;
    return true;
}

static void short_hex(const uint8_t *h, char out[17])
{
    sodium_bin2hex(out, 17, h, 8);
}

jr_check jr_check_line(jr_chain *c, const jr_line *ln, ebb_journal_record *rec, json_t **obj_out,
                       ebb_journal_report *rep)
{
    if (ln->too_long) {
        jr_fault(rep, EBB_JOURNAL_FAULT_UNPARSABLE, ln->number, 0, ln->offset,
                 "line is longer than %d bytes", EBB_JOURNAL_LINE_MAX);
        return JR_BAD_PARSE;
    }
    if (!ln->has_newline) {
        jr_fault(rep, EBB_JOURNAL_FAULT_UNPARSABLE, ln->number, 0, ln->offset,
                 "last line has no newline (%zu bytes)", ln->len);
        return JR_BAD_PARSE;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(ln->text, ln->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(obj)) {
        if (obj == NULL)
            jr_fault(rep, EBB_JOURNAL_FAULT_UNPARSABLE, ln->number, 0, ln->offset,
                     "not JSON: %s at column %d", jerr.text, jerr.column);
        else
            jr_fault(rep, EBB_JOURNAL_FAULT_UNPARSABLE, ln->number, 0, ln->offset,
                     "not a JSON object");
        json_decref(obj);
        return JR_BAD_PARSE;
    }
    if (!decode_fields(obj, ln, rec, rep)) {
        json_decref(obj);
        return JR_BAD;
    }
    jr_check result = JR_BAD;
    char *full = NULL, *canon = NULL;
    uint8_t *msg = NULL;
    json_t *body = json_copy(obj);
    if (body == NULL || json_object_del(body, "hash") != 0)
        goto oom;
    json_object_del(body, "sig");
    full = json_dumps(obj, JR_DUMP_FLAGS);
    canon = json_dumps(body, JR_DUMP_FLAGS);
    if (full == NULL || canon == NULL)
        goto oom;
    if (jr_has_real(rec->payload)) {
        jr_fault(rep, EBB_JOURNAL_FAULT_NOT_CANONICAL, ln->number, rec->seq, ln->offset,
                 "payload holds a real number");
        goto done;
    }
    if (strlen(full) != ln->len || memcmp(full, ln->text, ln->len) != 0) {
        jr_fault(rep, EBB_JOURNAL_FAULT_NOT_CANONICAL, ln->number, rec->seq, ln->offset,
                 "bytes differ from the canonical serialisation of the record");
        goto done;
    }
    if (rec->seq != c->seq + 1) {
        jr_fault(rep, EBB_JOURNAL_FAULT_SEQ, ln->number, rec->seq, ln->offset,
                 "sequence %" PRIu64 " follows %" PRIu64 " (expected %" PRIu64 ")", rec->seq,
                 c->seq, c->seq + 1);
        goto done;
    }
    char a[17], b[17];
    if (sodium_memcmp(rec->prev, c->hash, EBB_JOURNAL_HASH_LEN) != 0) {
        short_hex(rec->prev, a);
        short_hex(c->hash, b);
        jr_fault(rep, EBB_JOURNAL_FAULT_PREV, ln->number, rec->seq, ln->offset,
                 "prev is %s..., the previous record's hash is %s...", a, b);
        goto done;
    }
    uint8_t computed[EBB_JOURNAL_HASH_LEN];
    size_t canon_len = strlen(canon);
    jr_hash(canon, canon_len, computed);
    if (sodium_memcmp(computed, rec->hash, EBB_JOURNAL_HASH_LEN) != 0) {
        short_hex(rec->hash, a);
        short_hex(computed, b);
        jr_fault(rep, EBB_JOURNAL_FAULT_HASH, ln->number, rec->seq, ln->offset,
                 "recorded hash %s..., content hashes to %s...", a, b);
        goto done;
    }
    if (c->trust != NULL) {
        char want[EBB_KEY_ID_HEX_SIZE], got[EBB_KEY_ID_HEX_SIZE];
        if (!rec->is_signed) {
            jr_fault(rep, EBB_JOURNAL_FAULT_UNSIGNED, ln->number, rec->seq, ln->offset,
                     "record is not signed");
            goto done;
        }
        if (!ebb_key_id_equal(&rec->signer, &c->trust_id)) {
            ebb_key_id_hex(&rec->signer, got);
            ebb_key_id_hex(&c->trust_id, want);
            jr_fault(rep, EBB_JOURNAL_FAULT_SIGNER, ln->number, rec->seq, ln->offset,
                     "signed by key %s, expected %s", got, want);
            goto done;
        }
        size_t mlen = 0;
        msg = jr_signed_message(canon, canon_len, &mlen);
        if (msg == NULL)
            goto oom;
        if (!ebb_public_key_verify(c->trust, msg, mlen, rec->sig)) {
            ebb_key_id_hex(&c->trust_id, want);
            jr_fault(rep, EBB_JOURNAL_FAULT_SIGNATURE, ln->number, rec->seq, ln->offset,
                     "signature does not verify with key %s", want);
            goto done;
        }
    }
    c->seq = rec->seq;
    memcpy(c->hash, rec->hash, EBB_JOURNAL_HASH_LEN);
    result = JR_GOOD;
    goto done;
oom:
    result = JR_OOM;
done:
    free(msg);
    free(full);
    free(canon);
    json_decref(body);
    if (result == JR_GOOD)
        *obj_out = obj; /* rec points into obj */
    else
        json_decref(obj);
    return result;
}

/* ---- reading a whole file ---- */

ebb_code jr_read_chain(int fd, const char *path, uint64_t limit, const ebb_public_key *trust,
                       uint64_t from_seq, ebb_journal_record_fn fn, void *ctx,
                       ebb_journal_report *rep, uint64_t *end_offset, ebb_error *err)
{
    jr_chain c;
    memset(&c, 0, sizeof c);
    if (trust != NULL) {
        c.trust = trust;
        ebb_key_id_of(trust, &c.trust_id);
    }
    jr_report_init(rep);
    jr_lines lr;
    jr_lines_init(&lr, fd, limit);
    uint64_t good_end = 0;
    ebb_code rc = EBB_OK;
    bool stop = false;
    jr_line ln;
    int r;
    while (!stop && (r = jr_lines_next(&lr, &ln)) == 1) {
        ebb_journal_record rec;
        json_t *obj = NULL;
        jr_check chk = jr_check_line(&c, &ln, &rec, &obj, rep);
        if (chk == JR_OOM) {
            rc = ebb_error_set(err, EBB_E_NOMEM, "journal %s: out of memory at line %" PRIu64, path,
                               ln.number);
            break;
        }
        /*
         * Only the last line may be torn (a crash during its append), and
         * never by being too long: appends are bounded by the line limit.
         */
        if (chk == JR_BAD_PARSE && !ln.too_long && (!ln.has_newline || jr_lines_at_end(&lr))) {
            rep->fault = EBB_JOURNAL_FAULT_TORN_TAIL;
            struct stat st;
            uint64_t end = limit;
            if (limit == UINT64_MAX)
                end = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : ln.offset + ln.len;
            rep->torn_bytes = end - ln.offset;
            char why[sizeof rep->why];
            snprintf(why, sizeof why, "torn last line (%" PRIu64 " bytes): %s", rep->torn_bytes,
                     rep->why);
            memcpy(rep->why, why, sizeof why);
            break;
        }
        if (chk != JR_GOOD) {
            rc = jr_fault_error(path, rep, err);
            break;
        }
        rep->records++;
        rep->last_seq = rec.seq;
        memcpy(rep->last_hash, rec.hash, EBB_JOURNAL_HASH_LEN);
        good_end = ln.offset + ln.len + 1;
        if (fn != NULL && rec.seq >= from_seq)
            rc = fn(&rec, ctx, &stop, err);
        json_decref(obj);
        if (rc != EBB_OK)
            break;
    }
    if (rc == EBB_OK && !stop && rep->fault == EBB_JOURNAL_FAULT_NONE && r < 0)
        rc = ebb_error_errno(err, EBB_E_IO, errno, "read journal %s", path);
    jr_lines_fini(&lr);
    rep->signatures_checked = trust != NULL && rep->records > 0;
    if (end_offset != NULL)
        *end_offset = good_end;
    return rc;
}

static ebb_code open_read(const char *path, int *fd_out, ebb_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ebb_error_errno(err, errno == ENOENT ? EBB_E_NOT_FOUND : EBB_E_IO, errno,
                               "open journal %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ebb_error_set(err, EBB_E_INVALID, "journal %s is not a regular file", path);
    }
    *fd_out = fd;
    return EBB_OK;
}

ebb_code ebb_journal_scan(const char *path, const ebb_public_key *trust_key, uint64_t from_seq,
                          ebb_journal_record_fn fn, void *ctx, ebb_journal_report *report,
                          ebb_error *err)
{
    ebb_journal_report local;
    ebb_journal_report *rep = report ? report : &local;
    jr_report_init(rep);
    int fd = -1;
    ebb_code rc = open_read(path, &fd, err);
    if (rc != EBB_OK)
        return rc;
    rc = jr_read_chain(fd, path, UINT64_MAX, trust_key, from_seq, fn, ctx, rep, NULL, err);
    close(fd);
    return rc;
}

typedef struct anchor_ctx {
    const ebb_journal_anchor *anchor;
    bool seen;
    bool bad;
    uint64_t line;
    uint8_t hash[EBB_JOURNAL_HASH_LEN];
} anchor_ctx;

static ebb_code anchor_fn(const ebb_journal_record *rec, void *ctx, bool *stop, ebb_error *err)
{
    anchor_ctx *a = ctx;
    if (rec->seq != a->anchor->seq)
        return EBB_OK;
    a->seen = true;
    a->line = rec->line;
    memcpy(a->hash, rec->hash, EBB_JOURNAL_HASH_LEN);
    a->bad = sodium_memcmp(rec->hash, a->anchor->hash, EBB_JOURNAL_HASH_LEN) != 0;
    return EBB_OK;
}

ebb_code ebb_journal_verify(const char *path, const ebb_public_key *trust_key,
                            const ebb_journal_anchor *anchor, ebb_journal_report *report,
                            ebb_error *err)
{
    anchor_ctx a = {.anchor = anchor};
    ebb_code rc = ebb_journal_scan(path, trust_key, 0, anchor ? anchor_fn : NULL, &a, report, err);
    if (rc != EBB_OK)
        return rc;
    if (report->fault == EBB_JOURNAL_FAULT_TORN_TAIL)
        return jr_fault_error(path, report, err);
    if (anchor != NULL && (!a.seen || a.bad)) {
        char want[17], got[17];
        short_hex(anchor->hash, want);
        if (!a.seen) {
            jr_fault(report, EBB_JOURNAL_FAULT_ANCHOR, report->records + 1, anchor->seq, 0,
                     "anchor record %" PRIu64 " (hash %s...) is missing: the journal ends at "
                     "%" PRIu64 ", records were cut off",
                     anchor->seq, want, report->last_seq);
        } else {
            short_hex(a.hash, got);
            jr_fault(report, EBB_JOURNAL_FAULT_ANCHOR, a.line, anchor->seq, 0,
                     "anchor expects hash %s..., the record has %s...", want, got);
        }
        return jr_fault_error(path, report, err);
    }
    return EBB_OK;
}

json_t *ebb_journal_report_json(const ebb_journal_report *rep)
{
    char last[EBB_JOURNAL_HASH_HEX_SIZE];
    ebb_journal_hash_hex(rep->last_hash, last);
    json_t *o =
        json_pack("{s:b,s:I,s:I,s:s,s:b}", "ok", rep->fault == EBB_JOURNAL_FAULT_NONE, "records",
                  (json_int_t)rep->records, "last_seq", (json_int_t)rep->last_seq, "last_hash",
                  last, "signatures_checked", rep->signatures_checked);
    if (o == NULL || rep->fault == EBB_JOURNAL_FAULT_NONE)
        return o;
    json_t *bad = json_pack("{s:s,s:I,s:I,s:I,s:s}", "fault", ebb_journal_fault_name(rep->fault),
                            "line", (json_int_t)rep->bad_line, "seq", (json_int_t)rep->bad_seq,
                            "offset", (json_int_t)rep->bad_offset, "why", rep->why);
    if (bad == NULL || json_object_update(o, bad) != 0) {
        json_decref(bad);
        json_decref(o);
        return NULL;
    }
    json_decref(bad);
    return o;
}
