/*
 * libpg_query and the system libprotobuf-c in one process.
 *
 * Finding (Debian 12: libpg-query 15-4.0.0, libprotobuf-c1 1.4.1):
 * - libpg_query.so.1504.0 carries its own copy of the protobuf-c runtime
 *   (protobuf_c_version() says "1.4.0") and EXPORTS it: `nm -D
 *   --defined-only` lists protobuf_c_message_unpack, _pack, _free_unpacked,
 *   protobuf_c_empty_string, ... It has no DT_NEEDED on libprotobuf-c.so.1.
 * - Its own calls into that runtime are not bound locally (`readelf -r`:
 *   R_X86_64_JUMP_SLOT for protobuf_c_message_unpack & co., no DF_SYMBOLIC),
 *   so the first definition in the global lookup order serves the whole
 *   process: ebb's generated code and libpg_query's alike.
 * - With the original link (libpg_query.so before libprotobuf-c.so on the
 *   command line, and Debian's default --as-needed) libprotobuf-c.so.1 was
 *   DROPPED from DT_NEEDED altogether: ebb's wire protocol (Envelope
 *   unpacking of network input) ran on libpg_query's bundled 1.4.0 runtime,
 *   which lacks 1.4.1's decoder fixes ("Only shift unsigned values",
 *   "Fix unsigned integer overflow", see the libprotobuf-c1 changelog).
 *   Functionally it worked (1.4.0 and 1.4.1 share the ABI), but it silently
 *   swapped the runtime that parses untrusted bytes, and which copy won
 *   depended on link order.
 * - Fix (agent/CMakeLists.txt): link a copy of libpg_query.a with its
 *   protobuf-c.o member deleted, plus the system libprotobuf-c. There is
 *   then exactly ONE protobuf-c runtime in the process, the system one;
 *   libpg_query's generated code (built against 1.4.0 headers) runs on it,
 *   which the ABI allows (same soname, same descriptor layout).
 *
 * This test checks that: the runtime symbols resolve into libprotobuf-c.so.1
 * (not into the executable or a libpg_query.so), its version is the one the
 * headers were built for, libpg_query.so is not loaded, and ebb messages and
 * libpg_query parse trees round-trip correctly in one binary, many times.
 */
#define _GNU_SOURCE /* dladdr, RTLD_NOLOAD, RTLD_DEFAULT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebb.pb-c.h"

/* Name of the object that defines the function at address fn. */
static const char *owner_of(const void *addr)
{
    Dl_info info;
    if (dladdr(addr, &info) == 0 || info.dli_fname == NULL)
        fail_msg("dladdr found no object for %p", addr);
    return info.dli_fname;
}

static void test_one_runtime_the_system_one(void **state)
{
    (void)state;
    const char *syms[] = {"protobuf_c_message_unpack", "protobuf_c_message_pack",
                          "protobuf_c_message_free_unpacked", "protobuf_c_version_number",
                          "protobuf_c_empty_string"};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *p = dlsym(RTLD_DEFAULT, syms[i]);
        assert_non_null(p);
        const char *owner = owner_of(p);
        printf("# %s -> %s\n", syms[i], owner);
        if (strstr(owner, "libprotobuf-c.so") == NULL)
            fail_msg("%s resolves to %s, not the system libprotobuf-c", syms[i], owner);
    }
    /* libpg_query comes from the trimmed static archive, never the .so. */
    void *h = dlopen("libpg_query.so.1504.0", RTLD_NOW | RTLD_NOLOAD);
    if (h != NULL) {
        dlclose(h);
        fail_msg("libpg_query.so is loaded: its bundled protobuf-c could interpose");
    }
    const char *pgq_owner = owner_of((const void *)(uintptr_t)&pg_query__parse_result__unpack);
    assert_null(strstr(pgq_owner, "libpg_query.so"));
    assert_int_equal(protobuf_c_version_number(), PROTOBUF_C_VERSION_NUMBER);
}

static void ebb_roundtrip(uint64_t counter)
{
    uint8_t data[64];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(counter + i);
    Ebb__TestPayload payload = EBB__TEST_PAYLOAD__INIT;
    payload.counter = counter;
    payload.has_data = 1;
    payload.data.len = sizeof data;
    payload.data.data = data;
    size_t plen = ebb__test_payload__get_packed_size(&payload);
    uint8_t *pbuf = malloc(plen);
    assert_non_null(pbuf);
    assert_int_equal(ebb__test_payload__pack(&payload, pbuf), plen);

    uint8_t key_id[8] = {1, 2, 3, 4, 5, 6, 7, 8}, nonce[16] = {0}, sig[64] = {9};
    Ebb__Envelope env = EBB__ENVELOPE__INIT;
    env.version = 1;
    env.signer_key_id.len = sizeof key_id;
    env.signer_key_id.data = key_id;
    env.recipient = "0011223344556677";
    env.sequence = counter;
    env.issued_at_ms = 1700000000000 + (int64_t)counter;
    env.expires_at_ms = env.issued_at_ms + 60000;
    env.nonce.len = sizeof nonce;
    env.nonce.data = nonce;
    env.body_type = EBB__BODY_TYPE__BODY_TEST_PAYLOAD;
    env.body.len = plen;
    env.body.data = pbuf;
    env.signature.len = sizeof sig;
    env.signature.data = sig;
    size_t elen = ebb__envelope__get_packed_size(&env);
    uint8_t *ebuf = malloc(elen);
    assert_non_null(ebuf);
    assert_int_equal(ebb__envelope__pack(&env, ebuf), elen);

    Ebb__Envelope *e2 = ebb__envelope__unpack(NULL, elen, ebuf);
    assert_non_null(e2);
    assert_int_equal(e2->sequence, counter);
    assert_string_equal(e2->recipient, "0011223344556677");
    assert_int_equal(e2->body_type, EBB__BODY_TYPE__BODY_TEST_PAYLOAD);
    Ebb__TestPayload *p2 = ebb__test_payload__unpack(NULL, e2->body.len, e2->body.data);
    assert_non_null(p2);
    assert_int_equal(p2->counter, counter);
    assert_true(p2->has_data);
    assert_memory_equal(p2->data.data, data, sizeof data);
    ebb__test_payload__free_unpacked(p2, NULL);
    ebb__envelope__free_unpacked(e2, NULL);

    /* A truncated envelope must be rejected, not half-read. */
    assert_null(ebb__envelope__unpack(NULL, elen / 2, ebuf));
    free(ebuf);
    free(pbuf);
}

static void pgquery_roundtrip(int i)
{
    char sql[200];
    snprintf(sql, sizeof sql, "ALTER TABLE \"Sch\".t%d DROP COLUMN \"Weird Name\"; SELECT %d", i, i);
    PgQueryProtobufParseResult res = pg_query_parse_protobuf(sql);
    assert_null(res.error);
    PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
        NULL, res.parse_tree.len, (const uint8_t *)res.parse_tree.data);
    assert_non_null(tree);
    assert_int_equal(tree->n_stmts, 2);
    PgQuery__Node *n = tree->stmts[0]->stmt;
    assert_int_equal(n->node_case, PG_QUERY__NODE__NODE_ALTER_TABLE_STMT);
    PgQuery__AlterTableStmt *at = n->alter_table_stmt;
    assert_string_equal(at->relation->schemaname, "Sch");
    char want[32];
    snprintf(want, sizeof want, "t%d", i);
    assert_string_equal(at->relation->relname, want);
    assert_int_equal(at->n_cmds, 1);
    PgQuery__AlterTableCmd *cmd = at->cmds[0]->alter_table_cmd;
    assert_int_equal(cmd->subtype, PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn);
    assert_string_equal(cmd->name, "Weird Name");
    assert_int_equal(tree->stmts[1]->stmt->node_case, PG_QUERY__NODE__NODE_SELECT_STMT);

    /* Re-pack with the system runtime and compare with libpg_query's bytes. */
    size_t len = pg_query__parse_result__get_packed_size(tree);
    assert_int_equal(len, res.parse_tree.len);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(pg_query__parse_result__pack(tree, buf), len);
    assert_memory_equal(buf, res.parse_tree.data, len);
    free(buf);
    pg_query__parse_result__free_unpacked(tree, NULL);
    pg_query_free_protobuf_parse_result(res);
}

static void test_interleaved_roundtrips(void **state)
{
    (void)state;
    for (int i = 0; i < 300; i++) {
        ebb_roundtrip((uint64_t)i * 7919u);
        pgquery_roundtrip(i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_runtime_the_system_one),
        cmocka_unit_test(test_interleaved_roundtrips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
