/* The OTLP/HTTP JSON receiver of the tests (cctest_otlp.h): one thread
 * accepts, one thread per connection reads requests (keep-alive, as the
 * runtime's exporter reuses its connection). */
#include "cctest_otlp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum { MAX_CONNS = 64 };

struct cct_otlp {
    int lfd;
    uint16_t port;
    bool keep, stopping;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int conns[MAX_CONNS];
    int nconns;
    uint64_t count, bad;
    json_t *spans;
};

typedef struct conn_arg {
    cct_otlp *o;
    int fd;
} conn_arg;

static void add_spans(cct_otlp *o, json_t *doc)
{
    size_t ri, si, pi;
    json_t *rs, *ss, *sp;
    uint64_t n = 0;
    json_t *kept = json_array();
    json_array_foreach(json_object_get(doc, "resourceSpans"), ri, rs)
    {
        const char *service = "";
        size_t ai;
        json_t *a;
        json_array_foreach(json_object_get(json_object_get(rs, "resource"), "attributes"), ai, a)
        {
            if (!strcmp(json_string_value(json_object_get(a, "key")) ?: "", "service.name"))
                service = json_string_value(
                              json_object_get(json_object_get(a, "value"), "stringValue"))
                              ?: "";
        }
        json_array_foreach(json_object_get(rs, "scopeSpans"), si, ss)
        {
            json_array_foreach(json_object_get(ss, "spans"), pi, sp)
            {
                n++;
                if (o->keep) {
                    json_t *c = json_deep_copy(sp);
                    json_object_set_new(c, "service", json_string(service));
                    json_array_append_new(kept, c);
                }
            }
        }
    }
    pthread_mutex_lock(&o->mu);
    o->count += n;
    if (!n)
        o->bad++;
    json_array_extend(o->spans, kept);
    pthread_mutex_unlock(&o->mu);
    json_decref(kept);
}

/* Reads one request; false at the end of the connection. */
static bool serve_one(cct_otlp *o, int fd, char *buf, size_t cap, size_t *have)
{
    char *end;
    while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) {
        if (*have == cap)
            return false;
        ssize_t r = read(fd, buf + *have, cap - *have);
        if (r <= 0)
            return false;
        *have += (size_t)r;
    }
    size_t head = (size_t)(end - buf) + 4, len = 0;
    for (char *p = buf; p < end; p++)
        if ((p == buf || p[-1] == '\n') && !strncasecmp(p, "content-length:", 15))
            len = strtoul(p + 15, NULL, 10);
    if (head + len > cap)
        return false;
    while (*have < head + len) {
        ssize_t r = read(fd, buf + *have, cap - *have);
        if (r <= 0)
            return false;
        *have += (size_t)r;
    }
    if (!o->keep) {
        /* Counting only (benchmarks): the spans' ids, without parsing, so
         * the receiver takes as little of the machine as it can. */
        uint64_t n = 0;
        for (const char *p = buf + head, *e = buf + head + len;
             (p = memmem(p, (size_t)(e - p), "\"spanId\"", 8)) != NULL; p += 8)
            n++;
        pthread_mutex_lock(&o->mu);
        o->count += n;
        pthread_mutex_unlock(&o->mu);
        goto answer;
    }
    json_t *doc = json_loadb(buf + head, len, 0, NULL);
    if (doc)
        add_spans(o, doc);
    else {
        pthread_mutex_lock(&o->mu);
        o->bad++;
        pthread_mutex_unlock(&o->mu);
    }
    json_decref(doc);
answer:;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\n\r\n{}";
    if (write(fd, ok, sizeof ok - 1) != (ssize_t)sizeof ok - 1)
        return false;
    memmove(buf, buf + head + len, *have - head - len);
    *have -= head + len;
    return true;
}

static void *conn_main(void *p)
{
    conn_arg *a = p;
    size_t cap = 16 << 20, have = 0;
    char *buf = malloc(cap);
    while (buf && serve_one(a->o, a->fd, buf, cap, &have))
        ;
    free(buf);
    cct_otlp *o = a->o;
    pthread_mutex_lock(&o->mu);
    for (int i = 0; i < o->nconns; i++)
        if (o->conns[i] == a->fd)
            o->conns[i] = o->conns[--o->nconns];
    close(a->fd);
    pthread_cond_broadcast(&o->idle);
    pthread_mutex_unlock(&o->mu);
    free(a);
    return NULL;
}

static void *accept_main(void *p)
{
    cct_otlp *o = p;
    for (;;) {
        int fd = accept(o->lfd, NULL, NULL);
        if (fd < 0)
            break;
        pthread_mutex_lock(&o->mu);
        if (o->stopping || o->nconns == MAX_CONNS) {
            pthread_mutex_unlock(&o->mu);
            close(fd);
            continue;
        }
        o->conns[o->nconns++] = fd;
        pthread_mutex_unlock(&o->mu);
        conn_arg *a = malloc(sizeof *a);
        a->o = o;
        a->fd = fd;
        pthread_t t;
        pthread_create(&t, NULL, conn_main, a);
        pthread_detach(t);
    }
    return NULL;
}

cct_otlp *cct_otlp_start(bool keep)
{
    cct_otlp *o = calloc(1, sizeof *o);
    o->keep = keep;
    o->spans = json_array();
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->idle, NULL);
    o->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t sl = sizeof sa;
    if (o->lfd < 0 || bind(o->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(o->lfd, 64) != 0 || getsockname(o->lfd, (struct sockaddr *)&sa, &sl) != 0) {
        if (o->lfd >= 0)
            close(o->lfd);
        json_decref(o->spans);
        free(o);
        return NULL;
    }
    o->port = ntohs(sa.sin_port);
    pthread_create(&o->acceptor, NULL, accept_main, o);
    return o;
}

uint16_t cct_otlp_port(const cct_otlp *o)
{
    return o->port;
}

uint64_t cct_otlp_count(cct_otlp *o)
{
    pthread_mutex_lock(&o->mu);
    uint64_t n = o->count;
    pthread_mutex_unlock(&o->mu);
    return n;
}

uint64_t cct_otlp_bad(cct_otlp *o)
{
    pthread_mutex_lock(&o->mu);
    uint64_t n = o->bad;
    pthread_mutex_unlock(&o->mu);
    return n;
}

json_t *cct_otlp_spans(cct_otlp *o)
{
    pthread_mutex_lock(&o->mu);
    json_t *c = json_deep_copy(o->spans);
    pthread_mutex_unlock(&o->mu);
    return c;
}

void cct_otlp_stop(cct_otlp *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->stopping = true;
    for (int i = 0; i < o->nconns; i++)
        shutdown(o->conns[i], SHUT_RDWR);
    pthread_mutex_unlock(&o->mu);
    shutdown(o->lfd, SHUT_RDWR);
    pthread_join(o->acceptor, NULL);
    close(o->lfd);
    pthread_mutex_lock(&o->mu);
    while (o->nconns > 0)
        pthread_cond_wait(&o->idle, &o->mu);
    pthread_mutex_unlock(&o->mu);
    json_decref(o->spans);
    free(o);
}
