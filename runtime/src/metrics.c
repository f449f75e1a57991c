#include "cc/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/buf.h"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind;

/* Every series shares one header so the registry is a single list. */
typedef struct series {
    struct series *next;
    kind k;
    char *name;
    char *help;
    char *labels;
} series;

struct cc_counter {
    series s;
    _Atomic uint64_t v;
};

struct cc_gauge {
    series s;
    _Atomic int64_t v;
};

struct cc_histogram {
    series s;
    size_t n;
    double *bounds;
    _Atomic uint64_t *counts; /* n + 1: the last is +Inf */
    _Atomic uint64_t sum_ns;
    _Atomic uint64_t count;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static series *reg_head, *reg_tail;

static const double default_buckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                         0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1,
                                         2.5,     5,      10};

uint64_t cc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static series *find(kind k, const char *name, const char *labels)
{
    for (series *s = reg_head; s; s = s->next)
        if (s->k == k && strcmp(s->name, name) == 0 && strcmp(s->labels, labels ? labels : "") == 0)
            return s;
    return NULL;
}

static bool init_series(series *s, kind k, const char *name, const char *help, const char *labels)
{
    s->k = k;
    s->name = strdup(name);
    s->help = strdup(help ? help : "");
    s->labels = strdup(labels ? labels : "");
    return s->name && s->help && s->labels;
}

static void append(series *s)
{
    if (reg_tail)
        reg_tail->next = s;
    else
        reg_head = s;
    reg_tail = s;
}

cc_counter *cc_metrics_counter(const char *name, const char *help, const char *labels)
{
    pthread_mutex_lock(&reg_lock);
    cc_counter *c = (cc_counter *)find(KIND_COUNTER, name, labels);
    if (!c && (c = calloc(1, sizeof *c)) != NULL) {
        if (init_series(&c->s, KIND_COUNTER, name, help, labels)) {
            append(&c->s);
        } else {
            c = NULL; /* a tiny leak only when out of memory at registration */
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return c;
}

cc_gauge *cc_metrics_gauge(const char *name, const char *help, const char *labels)
{
    pthread_mutex_lock(&reg_lock);
    cc_gauge *g = (cc_gauge *)find(KIND_GAUGE, name, labels);
    if (!g && (g = calloc(1, sizeof *g)) != NULL) {
        if (init_series(&g->s, KIND_GAUGE, name, help, labels))
            append(&g->s);
        else
            g = NULL;
    }
    pthread_mutex_unlock(&reg_lock);
    return g;
}

cc_histogram *cc_metrics_histogram(const char *name, const char *help, const char *labels,
                                   const double *buckets, size_t nbuckets)
{
    if (!buckets) {
        buckets = default_buckets;
        nbuckets = sizeof default_buckets / sizeof default_buckets[0];
    }
    pthread_mutex_lock(&reg_lock);
    cc_histogram *h = (cc_histogram *)find(KIND_HISTOGRAM, name, labels);
    if (!h && (h = calloc(1, sizeof *h)) != NULL) {
        h->n = nbuckets;
        h->bounds = malloc(nbuckets * sizeof *h->bounds);
        h->counts = calloc(nbuckets + 1, sizeof *h->counts);
        if (h->bounds && h->counts && init_series(&h->s, KIND_HISTOGRAM, name, help, labels)) {
            memcpy(h->bounds, buckets, nbuckets * sizeof *h->bounds);
            append(&h->s);
        } else {
            h = NULL;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return h;
}

void cc_counter_add(cc_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

void cc_counter_inc(cc_counter *c)
{
    cc_counter_add(c, 1);
}

uint64_t cc_counter_value(const cc_counter *c)
{
    return c ? atomic_load_explicit(&((cc_counter *)c)->v, memory_order_relaxed) : 0;
}

void cc_gauge_set(cc_gauge *g, int64_t v)
{
    if (g)
        atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

void cc_gauge_add(cc_gauge *g, int64_t d)
{
    if (g)
        atomic_fetch_add_explicit(&g->v, d, memory_order_relaxed);
}

int64_t cc_gauge_value(const cc_gauge *g)
{
    return g ? atomic_load_explicit(&((cc_gauge *)g)->v, memory_order_relaxed) : 0;
}

void cc_histogram_observe(cc_histogram *h, double seconds)
{
    if (!h)
        return;
    size_t i = 0;
    while (i < h->n && seconds > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(seconds > 0 ? seconds * 1e9 : 0),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

uint64_t cc_histogram_count(const cc_histogram *h)
{
    return h ? atomic_load_explicit(&((cc_histogram *)h)->count, memory_order_relaxed) : 0;
}

void cc_metrics_escape(const char *v, char *out, size_t cap)
{
    size_t j = 0;
    for (; *v && j + 2 < cap; v++) {
        if (*v == '\\' || *v == '"') {
            out[j++] = '\\';
            out[j++] = *v;
        } else if (*v == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = *v;
        }
    }
    out[j] = '\0';
}

/* Prints HELP and TYPE once per metric name: series of one name are
 * registered next to each other in practice, but not necessarily, so a
 * name already described earlier is skipped. */
static bool described_before(const series *upto, const series *s)
{
    for (const series *p = reg_head; p && p != upto; p = p->next)
        if (strcmp(p->name, s->name) == 0)
            return true;
    return false;
}

char *cc_metrics_render(size_t *len)
{
    cc_buf b = CC_BUF_INIT;
    pthread_mutex_lock(&reg_lock);
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    for (series *s = reg_head; s; s = s->next) {
        if (!described_before(s, s))
            cc_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
                          kinds[s->k]);
        const char *lb = s->labels[0] ? "{" : "";
        const char *le = s->labels[0] ? "}" : "";
        switch (s->k) {
        case KIND_COUNTER:
            cc_buf_printf(&b, "%s%s%s%s %" PRIu64 "\n", s->name, lb, s->labels, le,
                          cc_counter_value((cc_counter *)s));
            break;
        case KIND_GAUGE:
            cc_buf_printf(&b, "%s%s%s%s %" PRId64 "\n", s->name, lb, s->labels, le,
                          cc_gauge_value((cc_gauge *)s));
            break;
        case KIND_HISTOGRAM: {
            cc_histogram *h = (cc_histogram *)s;
            uint64_t cum = 0;
            const char *sep = s->labels[0] ? "," : "";
            for (size_t i = 0; i <= h->n; i++) {
                cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
                if (i < h->n)
                    cc_buf_printf(&b, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", s->name, s->labels,
                                  sep, h->bounds[i], cum);
                else
                    cc_buf_printf(&b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", s->name,
                                  s->labels, sep, cum);
            }
            cc_buf_printf(&b, "%s_sum%s%s%s %.9f\n", s->name, lb, s->labels, le,
                          (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9);
            cc_buf_printf(&b, "%s_count%s%s%s %" PRIu64 "\n", s->name, lb, s->labels, le,
                          atomic_load_explicit(&h->count, memory_order_relaxed));
            break;
        }
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return cc_buf_take(&b, len);
}
