/* A small real OTLP/HTTP JSON receiver for tests and benchmarks: an
 * HTTP/1.1 server on a free loopback port that accepts POST /v1/traces,
 * answers 200, and keeps (or only counts) the spans it received, each
 * with its resource's service.name added as "service". Thread-safe. */
#ifndef CCTEST_OTLP_H
#define CCTEST_OTLP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct cct_otlp cct_otlp;

/* Listens on 127.0.0.1 (a free port) until cct_otlp_stop. keep: store
 * the spans (false: count them only, for benchmarks). NULL on failure. */
cct_otlp *cct_otlp_start(bool keep);
uint16_t cct_otlp_port(const cct_otlp *o);
/* Spans received so far, and POSTs that were not valid OTLP JSON (with
 * keep false the spans' ids are counted, without parsing). */
uint64_t cct_otlp_count(cct_otlp *o);
uint64_t cct_otlp_bad(cct_otlp *o);
/* A new array of copies of every span kept so far (the caller decrefs). */
json_t *cct_otlp_spans(cct_otlp *o);
void cct_otlp_stop(cct_otlp *o);

#endif
