#include "cc/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cc_config_env_name(const char *name, char *buf, size_t cap)
{
    size_t j = 0;
    const char *prefix = "CC_";
    for (const char *p = prefix; *p && j + 1 < cap; p++)
        buf[j++] = *p;
    for (const char *p = name; *p && j + 1 < cap; p++)
        buf[j++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[j] = '\0';
}

static bool parse_i64(const char *s, int64_t *out, const char **rest)
{
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return false;
    *out = v;
    *rest = end;
    return true;
}

static bool mul_ok(int64_t v, int64_t m, int64_t *out)
{
    return !__builtin_mul_overflow(v, m, out);
}

cc_status cc_config_parse_value(const cc_config_row *row, const char *value, void *dst)
{
    char *field = (char *)dst + row->offset;
    const char *rest = NULL;
    int64_t v = 0;
    switch (row->type) {
    case CC_CFG_STRING: {
        char *copy = strdup(value);
        if (!copy)
            return cc_err_set(CC_NOMEM, "setting %s: out of memory", row->name);
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = copy;
        return CC_OK;
    }
    case CC_CFG_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1", NULL};
        static const char *const no[] = {"false", "no", "off", "0", NULL};
        for (int i = 0; yes[i]; i++) {
            if (strcasecmp(value, yes[i]) == 0) {
                *(bool *)(void *)field = true;
                return CC_OK;
            }
            if (strcasecmp(value, no[i]) == 0) {
                *(bool *)(void *)field = false;
                return CC_OK;
            }
        }
        return cc_err_set(CC_INVALID, "setting %s: '%s' is not a boolean (true or false)", row->name,
                 value);
    }
    case CC_CFG_ENUM:
        for (int i = 0; row->choices && row->choices[i]; i++) {
            if (strcmp(value, row->choices[i]) == 0) {
                *(int *)(void *)field = i;
                return CC_OK;
            }
        }
        return cc_err_set(CC_INVALID, "setting %s: '%s' is not one of the allowed values", row->name,
                 value);
    case CC_CFG_INT:
        if (!parse_i64(value, &v, &rest) || *rest) {
            return cc_err_set(CC_INVALID, "setting %s: '%s' is not an integer", row->name, value);
        }
        break;
    case CC_CFG_DURATION: {
        if (!parse_i64(value, &v, &rest)) {
            return cc_err_set(CC_INVALID, "setting %s: '%s' is not a duration (like 250ms, 5s, 2m)",
                     row->name, value);
        }
        int64_t m = 0;
        if (*rest == '\0' || strcmp(rest, "ms") == 0)
            m = 1;
        else if (strcmp(rest, "s") == 0)
            m = 1000;
        else if (strcmp(rest, "m") == 0)
            m = 60000;
        else if (strcmp(rest, "h") == 0)
            m = 3600000;
        if (!m || !mul_ok(v, m, &v)) {
            return cc_err_set(CC_INVALID, "setting %s: '%s' is not a duration (like 250ms, 5s, 2m)",
                     row->name, value);
        }
        break;
    }
    case CC_CFG_SIZE: {
        if (!parse_i64(value, &v, &rest)) {
            return cc_err_set(CC_INVALID, "setting %s: '%s' is not a size (like 512, 64k, 16M)",
                     row->name, value);
        }
        int64_t m = 0;
        if (*rest == '\0')
            m = 1;
        else if (strcasecmp(rest, "k") == 0)
            m = 1024;
        else if (strcasecmp(rest, "m") == 0)
            m = 1024 * 1024;
        else if (strcasecmp(rest, "g") == 0)
            m = 1024LL * 1024 * 1024;
        if (!m || !mul_ok(v, m, &v)) {
            return cc_err_set(CC_INVALID, "setting %s: '%s' is not a size (like 512, 64k, 16M)",
                     row->name, value);
        }
        break;
    }
    }
    if ((row->min || row->max) && (v < row->min || v > row->max)) {
        return cc_err_set(CC_INVALID, "setting %s: %s is out of range [%" PRId64 ", %" PRId64 "]",
                 row->name, value, row->min, row->max);
    }
    *(int64_t *)(void *)field = v;
    return CC_OK;
}

static const cc_config_row *find_row(const cc_config_table *t, size_t nt, const char *name,
                                     size_t len, size_t *which)
{
    for (size_t k = 0; k < nt; k++)
        for (size_t i = 0; i < t[k].nrows; i++)
            if (strlen(t[k].rows[i].name) == len &&
                strncmp(t[k].rows[i].name, name, len) == 0) {
                *which = k;
                return &t[k].rows[i];
            }
    return NULL;
}

/* Values given as flags, by table and row; NULL where none was given. */
typedef struct {
    const cc_config_row *row;
    const char *value;
} flag_value;

cc_status cc_config_load(const cc_config_table *tables, size_t ntables, int argc, char **argv,
                         const char **extra, size_t max_extra, size_t *nextra)
{
    flag_value *flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof *flags);
    size_t nflags = 0;
    if (!flags)
        return cc_err_set(CC_NOMEM, "out of memory");
    if (nextra)
        *nextra = 0;
    cc_status s = CC_OK;
    for (int i = 1; i < argc && s == CC_OK; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cc_config_usage(stdout, argv[0], tables, ntables);
            s = CC_CLOSED;
            break;
        }
        if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", argv[0], CC_VERSION);
            s = CC_CLOSED;
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (extra && nextra && *nextra < max_extra) {
                extra[(*nextra)++] = a;
                continue;
            }
            s = cc_err_set(CC_INVALID, "unexpected argument '%s'", a);
            break;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        size_t which = 0;
        const cc_config_row *row = find_row(tables, ntables, name, len, &which);
        if (!row) {
            s = cc_err_set(CC_INVALID, "unknown setting --%.*s (see --help)", (int)len, name);
            break;
        }
        const char *val = NULL;
        if (eq)
            val = eq + 1;
        else if (row->type == CC_CFG_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            s = cc_err_set(CC_INVALID, "setting %s: --%s needs a value", row->name, row->name);
            break;
        }
        flags[nflags].row = row;
        flags[nflags].value = val;
        nflags++;
    }
    for (size_t k = 0; k < ntables && s == CC_OK; k++) {
        for (size_t i = 0; i < tables[k].nrows && s == CC_OK; i++) {
            const cc_config_row *row = &tables[k].rows[i];
            char env[128];
            cc_config_env_name(row->name, env, sizeof env);
            const char *val = NULL;
            const char *from = "flag";
            for (size_t f = 0; f < nflags; f++)
                if (flags[f].row == row)
                    val = flags[f].value; /* the last flag wins */
            if (!val && (val = getenv(env)) != NULL)
                from = env;
            if (!val) {
                val = row->def;
                from = "default";
            }
            if (!val) {
                s = cc_err_set(CC_INVALID, "setting %s is required: pass --%s or set %s", row->name,
                         row->name, env);
                break;
            }
            s = cc_config_parse_value(row, val, tables[k].dst);
            if (s == CC_INVALID) {
                char perr[400];
                snprintf(perr, sizeof perr, "%s", cc_err_msg());
                s = cc_err_set(CC_INVALID, "%s (from %s)", perr, from);
            }
        }
    }
    free(flags);
    return s;
}

void cc_config_free(const cc_config_table *tables, size_t ntables)
{
    for (size_t k = 0; k < ntables; k++) {
        for (size_t i = 0; i < tables[k].nrows; i++) {
            if (tables[k].rows[i].type == CC_CFG_STRING) {
                char **slot = (char **)(void *)((char *)tables[k].dst + tables[k].rows[i].offset);
                free(*slot);
                *slot = NULL;
            }
        }
    }
}

void cc_config_usage(FILE *out, const char *prog, const cc_config_table *tables, size_t ntables)
{
    fprintf(out, "usage: %s [--setting=value ...]\n\nsettings (flag, environment, default):\n",
            prog);
    for (size_t k = 0; k < ntables; k++) {
        for (size_t i = 0; i < tables[k].nrows; i++) {
            const cc_config_row *r = &tables[k].rows[i];
            char env[128];
            cc_config_env_name(r->name, env, sizeof env);
            fprintf(out, "  --%-24s %-28s %-12s %s\n", r->name, env,
                    r->def ? (r->def[0] ? r->def : "\"\"") : "(required)", r->help ? r->help : "");
        }
    }
}
