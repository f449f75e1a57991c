/* The default output validator, with the Kattis semantics: tokens split on
 * whitespace, case-insensitive unless case_sensitive, whitespace ignored
 * unless space_change_sensitive, and floating-point tolerance when asked.
 * It runs in the judge itself on memory the judge owns (the program's
 * output memfd), so it needs no sandbox. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v';
}

bool judge_checker_parse(const jstrv *flags, judge_checker_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->abs_tol = o->rel_tol = -1;
    bool seen_tol = false, seen_abs = false, seen_rel = false;
    for (size_t i = 0; i < flags->n; i++) {
        const char *f = flags->v[i];
        if (!strcmp(f, "case_sensitive")) {
            o->case_sensitive = true;
        } else if (!strcmp(f, "space_change_sensitive")) {
            o->space_sensitive = true;
        } else if (!strcmp(f, "float_tolerance") || !strcmp(f, "float_absolute_tolerance") ||
                   !strcmp(f, "float_relative_tolerance")) {
            double v;
            if (i + 1 >= flags->n || !judge__parse_double(flags->v[i + 1], &v) || v < 0) {
                snprintf(err, errlen, "'%s' needs a non-negative number after it", f);
                return false;
            }
            i++;
            bool *seen = f[6] == 't' ? &seen_tol : f[6] == 'a' ? &seen_abs : &seen_rel;
            if (*seen) {
                snprintf(err, errlen, "'%s' given twice", f);
                return false;
            }
            *seen = true;
            if (f[6] == 't') {
                o->abs_tol = o->rel_tol = v;
            } else if (f[6] == 'a') {
                o->abs_tol = v;
            } else {
                o->rel_tol = v;
            }
        } else {
            snprintf(err, errlen, "unknown default validator flag '%s'", f);
            return false;
        }
    }
    if (seen_tol && (seen_abs || seen_rel)) {
        snprintf(err, errlen, "float_tolerance cannot be combined with the other tolerances");
        return false;
    }
    return true;
}

/* The format's float grammar: sign? (d* "." d+ | d+ "." | d+) ([eE] sign? d+)?
 * strtod alone would also take "inf", "nan" and hex. */
static bool parse_float(const char *t, size_t n, double *out)
{
    size_t i = 0, digits = 0;
    if (n == 0 || n > 400)
        return false;
    if (t[i] == '+' || t[i] == '-')
        i++;
    while (i < n && t[i] >= '0' && t[i] <= '9')
        i++, digits++;
    if (i < n && t[i] == '.') {
        i++;
        while (i < n && t[i] >= '0' && t[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < n && t[i] >= '0' && t[i] <= '9')
            i++, ed++;
        if (ed == 0)
            return false;
    }
    if (i != n)
        return false;
    char buf[401];
    memcpy(buf, t, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

static bool token_equal(const judge_checker_opts *o, const char *a, size_t an, const char *b,
                        size_t bn)
{
    if (o->abs_tol >= 0 || o->rel_tol >= 0) {
        double av, tv;
        if (parse_float(a, an, &av)) {
            if (!parse_float(b, bn, &tv))
                return false;
            double d = fabs(tv - av);
            if (isinf(av) || isinf(tv))
                return av == tv;
            if (o->abs_tol >= 0 && d <= o->abs_tol)
                return true;
            if (o->rel_tol >= 0 && d <= o->rel_tol * fabs(av))
                return true;
            return false;
        }
    }
    if (an != bn)
        return false;
    if (o->case_sensitive)
        return memcmp(a, b, an) == 0;
    for (size_t i = 0; i < an; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

static void show(char *dst, size_t cap, const char *t, size_t n)
{
    size_t k = n < 40 ? n : 40;
    size_t j = 0;
    for (size_t i = 0; i < k && j + 1 < cap; i++)
        dst[j++] = (t[i] >= 32 && t[i] < 127) ? t[i] : '?';
    dst[j] = '\0';
}

judge_verdict judge_checker_run(const judge_checker_opts *o, const char *out, size_t outlen,
                                const char *ans, size_t anslen, char *msg, size_t msglen)
{
    size_t i = 0, j = 0;
    long tok = 0;
    msg[0] = '\0';
    for (;;) {
        size_t ws_i = i, ws_j = j;
        while (i < outlen && is_space(out[i]))
            i++;
        while (j < anslen && is_space(ans[j]))
            j++;
        if (o->space_sensitive &&
            (i - ws_i != j - ws_j || memcmp(out + ws_i, ans + ws_j, i - ws_i) != 0)) {
            snprintf(msg, msglen, "whitespace differs before token %ld", tok + 1);
            return JUDGE_WA;
        }
        bool end_out = i >= outlen, end_ans = j >= anslen;
        if (end_out && end_ans)
            return JUDGE_AC;
        if (end_out || end_ans) {
            snprintf(msg, msglen, "%s after %ld tokens",
                     end_out ? "output ends early" : "output has extra tokens", tok);
            return JUDGE_WA;
        }
        size_t si = i, sj = j;
        while (i < outlen && !is_space(out[i]))
            i++;
        while (j < anslen && !is_space(ans[j]))
            j++;
        tok++;
        if (!token_equal(o, ans + sj, j - sj, out + si, i - si)) {
            char a[48], b[48];
            show(a, sizeof a, ans + sj, j - sj);
            show(b, sizeof b, out + si, i - si);
            snprintf(msg, msglen, "token %ld: expected '%s', got '%s'", tok, a, b);
            return JUDGE_WA;
        }
    }
}

/* ---- the first differing line ------------------------------------------------------ */

/* The line of buf from *pos, without its newline and trailing whitespace;
 * false at the end. */
static bool next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= len)
        return false;
    const char *s = buf + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    size_t l = nl ? (size_t)(nl - s) : len - *pos;
    *pos += l + (nl ? 1 : 0);
    while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
        l--;
    *line = s;
    *n = l;
    return true;
}

/* An excerpt of a line for a message: at most 80 bytes, control bytes as
 * '?', so a diff stays one short line. */
static void excerpt(jstr *o, const char *s, size_t n, bool present)
{
    if (!present) {
        jstr_adds(o, "(no line)");
        return;
    }
    jstr_add(o, "'", 1);
    for (size_t i = 0; i < n && i < 80; i++) {
        char ch = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        jstr_add(o, &ch, 1);
    }
    jstr_adds(o, n > 80 ? "...'" : "'");
}

char *judge__first_diff(const char *out, size_t outlen, const char *ans, size_t anslen)
{
    size_t po = 0, pa = 0;
    for (size_t lineno = 1;; lineno++) {
        const char *lo = NULL, *la = NULL;
        size_t no = 0, na = 0;
        bool ho = next_line(out, outlen, &po, &lo, &no);
        bool ha = next_line(ans, anslen, &pa, &la, &na);
        /* Trailing empty lines are no difference. */
        if (!ho && !ha)
            return NULL;
        if ((ho ? no : 0) == (ha ? na : 0) && (no == 0 || !memcmp(lo, la, no))) {
            if (!ho || !ha) {
                bool rest_empty = true;
                size_t *p = ho ? &po : &pa;
                const char *b = ho ? out : ans;
                size_t bl = ho ? outlen : anslen;
                const char *l;
                size_t n;
                while (rest_empty && next_line(b, bl, p, &l, &n))
                    rest_empty = n == 0;
                if (rest_empty)
                    return NULL;
            } else {
                continue;
            }
        }
        jstr o = {0};
        jstr_addf(&o, "line %zu: expected ", lineno);
        excerpt(&o, la, na, ha);
        jstr_adds(&o, ", got ");
        excerpt(&o, lo, no, ho);
        return jstr_take(&o);
    }
}

/* ---- verdict names ---------------------------------------------------------------- */

const char *judge_verdict_str(judge_verdict v)
{
    switch (v) {
#define JUDGE__V_CASE(name, str, msg)                                                              \
    case JUDGE_##name:                                                                             \
        return str;
        JUDGE_VERDICT_MAP(JUDGE__V_CASE)
#undef JUDGE__V_CASE
    default:
        return "IE";
    }
}

bool judge_verdict_parse(const char *s, judge_verdict *out)
{
    if (!strcmp(s, "RTE")) {
        *out = JUDGE_RE;
        return true;
    }
    for (int v = 0; v < JUDGE_VERDICT_COUNT; v++)
        if (!strcmp(s, judge_verdict_str((judge_verdict)v))) {
            *out = (judge_verdict)v;
            return true;
        }
    return false;
}
