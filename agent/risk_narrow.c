/* Which check says whether a column's values fit its new type (ALTER COLUMN TYPE), for PostgreSQL 15. */
#include <stdlib.h>
#include <string.h>

#include "agent/risk_verdict.h"

/* Type families the checks know. */
typedef enum family {
    F_OTHER,
    F_INT,     /* int2, int4, int8 */
    F_NUMERIC, /* numeric */
    F_FLOAT,   /* float4, float8 */
    F_TEXT,    /* text, varchar, bpchar, name */
} family;

typedef struct type_info {
    family fam;
    int bits;      /* F_INT: 16, 32, 64 */
    int length;    /* F_TEXT: limit in characters, -1 none */
    int precision; /* F_NUMERIC: 0 none */
    int scale;
} type_info;

static void by_name(const char *name, type_info *t)
{
    static const struct {
        const char *name;
        family fam;
        int bits;
    } names[] = {
        {"int2", F_INT, 16},        {"smallint", F_INT, 16}, {"int4", F_INT, 32},
        {"int", F_INT, 32},         {"integer", F_INT, 32},  {"int8", F_INT, 64},
        {"bigint", F_INT, 64},      {"numeric", F_NUMERIC, 0}, {"decimal", F_NUMERIC, 0},
        {"float4", F_FLOAT, 0},     {"real", F_FLOAT, 0},    {"float8", F_FLOAT, 0},
        {"text", F_TEXT, 0},        {"varchar", F_TEXT, 0},  {"bpchar", F_TEXT, 0},
        {"name", F_TEXT, 0},
    };
    memset(t, 0, sizeof *t);
    t->length = -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            t->fam = names[i].fam;
            t->bits = names[i].bits;
        }
    if (strcmp(name, "name") == 0)
        t->length = 63;
}

/* The old column: typname and atttypmod as the catalog gives them. */
static void old_type(const char *typname, int typmod, type_info *t)
{
    by_name(typname, t);
    if (typmod < 0)
        return;
    if (t->fam == F_TEXT && (strcmp(typname, "varchar") == 0 || strcmp(typname, "bpchar") == 0))
        t->length = typmod - 4; /* VARHDRSZ */
    if (t->fam == F_NUMERIC) {
        int v = typmod - 4;
        t->precision = (v >> 16) & 0xffff;
        /* PostgreSQL 15 stores the scale as an 11-bit signed value. */
        t->scale = ((v & 0x7ff) ^ 1024) - 1024;
    }
}

static bool parse_int(const char *s, int *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < -100000 || v > 100000000)
        return false;
    *out = (int)v;
    return true;
}

/* The new type from the parser; false when it is not one the checks know. */
static bool new_type(const ebb_risk_type *nt, type_info *t)
{
    if (nt->array_dims > 0 || nt->name.name == NULL ||
        (nt->name.schema != NULL && nt->name.schema[0] != '\0' &&
         strcmp(nt->name.schema, "pg_catalog") != 0))
        return false;
    by_name(nt->name.name, t);
    if (t->fam == F_OTHER)
        return false;
    if (t->fam == F_TEXT && nt->n_mods >= 1) {
        if (strcmp(nt->name.name, "text") == 0 || !parse_int(nt->mods[0], &t->length))
            return false;
    } else if (t->fam == F_TEXT && strcmp(nt->name.name, "bpchar") == 0) {
        t->length = 1; /* "char" alone is char(1) */
    }
    if (t->fam == F_NUMERIC && nt->n_mods >= 1) {
        if (!parse_int(nt->mods[0], &t->precision))
            return false;
        if (nt->n_mods >= 2 && !parse_int(nt->mods[1], &t->scale))
            return false;
    }
    if ((t->fam == F_INT || t->fam == F_FLOAT) && nt->n_mods > 0)
        return false;
    return true;
}

static void int_bounds(int bits, ebb_narrow_plan *p)
{
    if (bits == 16) {
        p->min = -32768;
        p->max = 32767;
    } else if (bits == 32) {
        p->min = -2147483648LL;
        p->max = 2147483647LL;
    } else {
        p->min = (-9223372036854775807LL - 1);
        p->max = 9223372036854775807LL;
    }
}

/* Decimal digits of the largest value of an integer type. */
static int int_digits(int bits)
{
    return bits == 16 ? 5 : bits == 32 ? 10 : 19;
}

void ebb_narrow_decide(const char *old_typname, int old_typmod, const ebb_risk_type *new_t,
                       bool has_using, ebb_narrow_plan *out)
{
    memset(out, 0, sizeof *out);
    out->check = EBB_NARROW_CAST_TRIAL;
    type_info o, n;
    if (!new_type(new_t, &n))
        return;
    if (has_using) {
        /* The expression's type is unknown: only a length limit is checked as such. */
        if (n.fam == F_TEXT && n.length >= 0) {
            out->check = EBB_NARROW_LENGTH;
            out->limit = n.length;
        } else if (n.fam == F_TEXT) {
            out->check = EBB_NARROW_FITS;
        }
        return;
    }
    old_type(old_typname != NULL ? old_typname : "", old_typmod, &o);
    switch (n.fam) {
    case F_TEXT:
        if (n.length < 0 || (o.fam == F_TEXT && o.length >= 0 && o.length <= n.length)) {
            out->check = EBB_NARROW_FITS; /* every type has an output function */
        } else {
            out->check = EBB_NARROW_LENGTH;
            out->limit = n.length;
        }
        return;
    case F_INT:
        if (o.fam == F_INT && o.bits <= n.bits) {
            out->check = EBB_NARROW_FITS;
        } else if (o.fam == F_INT || o.fam == F_NUMERIC || o.fam == F_FLOAT) {
            out->check = EBB_NARROW_INT_RANGE;
            int_bounds(n.bits, out);
        } else if (o.fam == F_TEXT) {
            out->check = EBB_NARROW_TEXT_INT;
            int_bounds(n.bits, out);
        }
        return;
    case F_NUMERIC: {
        out->precision = n.precision;
        out->scale = n.scale;
        if (o.fam == F_TEXT) {
            out->check = EBB_NARROW_TEXT_NUMERIC;
            return;
        }
        if (n.precision == 0) {
            if (o.fam == F_INT || o.fam == F_NUMERIC || o.fam == F_FLOAT)
                out->check = EBB_NARROW_FITS;
            return;
        }
        int room = n.precision - n.scale; /* integer digits the new type holds */
        bool fits = false;
        if (o.fam == F_INT)
            fits = room >= int_digits(o.bits);
        else if (o.fam == F_NUMERIC && o.precision > 0)
            /* Rounding to fewer decimals can carry into one more integer digit. */
            fits = n.scale >= o.scale ? room >= o.precision - o.scale
                                      : room > o.precision - o.scale;
        if (fits)
            out->check = EBB_NARROW_FITS;
        else if (o.fam == F_INT || o.fam == F_NUMERIC || o.fam == F_FLOAT)
            out->check = EBB_NARROW_NUMERIC;
        return;
    }
    case F_FLOAT:
        if (o.fam == F_INT)
            out->check = EBB_NARROW_FITS; /* may lose precision, never fails */
        return;
    case F_OTHER: return;
    }
}

const char *ebb_narrow_check_name(ebb_narrow_check check)
{
    switch (check) {
    case EBB_NARROW_FITS: return "fits";
    case EBB_NARROW_LENGTH: return "length";
    case EBB_NARROW_INT_RANGE: return "int-range";
    case EBB_NARROW_NUMERIC: return "numeric-range";
    case EBB_NARROW_TEXT_INT: return "text-int";
    case EBB_NARROW_TEXT_NUMERIC: return "text-numeric";
    case EBB_NARROW_CAST_TRIAL: return "cast-trial";
    }
    return "?";
}
