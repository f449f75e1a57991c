/* Prometheus metrics: counters, gauges and histograms in one process-wide
 * registry, rendered in the text exposition format at /metrics. Updates are
 * lock-free atomics, safe from any thread; registration takes a lock and
 * returns the same series for the same name and labels. */
#ifndef CC_METRICS_H
#define CC_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cc_counter cc_counter;
typedef struct cc_gauge cc_gauge;
typedef struct cc_histogram cc_histogram;

/* labels is the Prometheus label list without braces, e.g.
 * "service=\"user\",method=\"Login\"", or NULL. Label values must already
 * be escaped (cc_metrics_escape). The registry owns the series; the
 * returned pointer stays valid for the life of the process. NULL only
 * when out of memory; every update function accepts NULL and ignores it. */
cc_counter *cc_metrics_counter(const char *name, const char *help, const char *labels);
cc_gauge *cc_metrics_gauge(const char *name, const char *help, const char *labels);
/* Buckets are in seconds; NULL uses the default latency buckets
 * (50 µs .. 10 s). */
cc_histogram *cc_metrics_histogram(const char *name, const char *help, const char *labels,
                                   const double *buckets, size_t nbuckets);

void cc_counter_add(cc_counter *c, uint64_t n);
void cc_counter_inc(cc_counter *c);
uint64_t cc_counter_value(const cc_counter *c);
void cc_gauge_set(cc_gauge *g, int64_t v);
void cc_gauge_add(cc_gauge *g, int64_t d);
int64_t cc_gauge_value(const cc_gauge *g);
void cc_histogram_observe(cc_histogram *h, double seconds);
uint64_t cc_histogram_count(const cc_histogram *h);

/* Renders every series; returns a malloc'd NUL-terminated string the
 * caller frees (length in *len), or NULL when out of memory. */
char *cc_metrics_render(size_t *len);

/* Escapes a label value (backslash, quote, newline) into out (cap bytes). */
void cc_metrics_escape(const char *v, char *out, size_t cap);

/* Monotonic time in nanoseconds, for timing. */
uint64_t cc_now_ns(void);

#endif
