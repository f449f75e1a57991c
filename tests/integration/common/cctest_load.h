/* The steady mixed load of the reliability tests (issue 20: chaos and
 * soak) against a running cct_mesh: a submitter (one right answer to
 * aplusb every 1.5 s as root, retried with its Idempotency-Key on 503 or
 * no answer), readers (problem reads, root logins and registrations, ten
 * or so a second each) and a watcher (a /v1/live socket opened, read for a
 * second and closed, again and again). Every answer is counted in the
 * figures below; an answer a client must never see (a 5xx other than 503,
 * a 4xx to a valid request, a request that hung past CCT_LOAD_DEADLINE_MS)
 * is also a failure (cct_failed). One load per process: the state is
 * global, the functions below are thread-safe. */
#ifndef CCTEST_LOAD_H
#define CCTEST_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>

#include "cctest_mesh.h"

/* A request that takes longer than this hung: the gateway gives up on a
 * service after 10 s (req-timeout) and answers 503. */
enum { CCT_LOAD_DEADLINE_MS = 15000, CCT_LOAD_MAX_ACCEPTED = 8192 };

typedef struct cct_load_figures {
    atomic_long requests, ok, s503, s5xx, s4xx, refused, hung;
    atomic_long live_ok, live_frames;
} cct_load_figures;

extern cct_load_figures cct_load;

/* Starts the threads on m, as root (the account is copied): one submitter,
 * one watcher and readers readers. */
void cct_load_start(cct_mesh *m, const cct_account *root, int readers);
/* Stops the threads and waits for them (a submission in its retries
 * gives up soon). */
void cct_load_stop(void);
/* Renews root's token (an access token lasts 15 minutes). */
void cct_load_set_root(const cct_account *root);

/* The requests of the load, counted, for a test's own probes: a login as
 * root and a read of aplusb (their status), and one submission of src
 * under Idempotency-Key key, retried on 503 or no answer until it is
 * accepted (its id into id_out, 64 bytes, may be NULL; true then). */
long cct_load_login_root(void);
long cct_load_read_problem(void);
bool cct_load_submit(const char *src, const char *key, char *id_out);

/* The ids of the submissions accepted so far (201), and their number. */
char (*cct_load_accepted(int *n))[64];

/* Prints the figures as one line after prefix. */
void cct_load_print(const char *prefix);

#endif
