/* ListSamples: a version's sample tests (data/sample/<name>.in and .ans),
 * the inputs and answers a contestant may see, for the problem page. The
 * problem is loaded as the caller may see it (drafts only to their owner),
 * then one query reads the sample files' bytes from their blobs. Samples
 * are small; a file over SAMPLE_MAX is left out rather than cut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "problem.h"

#define SAMPLE_MAX 65536
#define SAMPLES_MAX 40

/* The sample that stem names in list, added when new. */
static Codecourt__V1__Sample *sample_of(cc_arena *a, Codecourt__V1__SampleList *list,
                                        const char *stem, size_t n)
{
    for (size_t i = 0; i < list->n_samples; i++)
        if (strlen(list->samples[i]->name) == n && !memcmp(list->samples[i]->name, stem, n))
            return list->samples[i];
    Codecourt__V1__Sample *s = cc_arena_alloc(a, sizeof *s);
    char *name = cc_arena_alloc(a, n + 1);
    if (!s || !name)
        return NULL;
    codecourt__v1__sample__init(s);
    memcpy(name, stem, n);
    name[n] = '\0';
    s->name = name;
    list->samples[list->n_samples++] = s;
    return s;
}

static void got_files(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, errmsg, "load samples");
        return;
    }
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__SampleList *list = cc_arena_alloc(a, sizeof *list);
    int n = cc_pg_nrows(r);
    if (list) {
        codecourt__v1__sample_list__init(list);
        list->samples = cc_arena_alloc(a, (size_t)(n ? n : 1) * sizeof *list->samples);
    }
    if (!list || !list->samples) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    /* Rows come sorted by path: "data/sample/1.ans" before "1.in". */
    for (int i = 0; i < n; i++) {
        const char *path = cc_pg_get(r, i, 0) + strlen("data/sample/");
        const char *dot = strrchr(path, '.');
        bool in = dot && !strcmp(dot, ".in"), ans = dot && !strcmp(dot, ".ans");
        if ((!in && !ans) || strchr(path, '/') || cc_pg_isnull(r, i, 1))
            continue;
        unsigned char *data = NULL;
        size_t len = 0;
        if (cc_pg_get_bytea(r, i, 1, &data, &len) != CC_OK)
            continue;
        Codecourt__V1__Sample *sm = sample_of(a, list, path, (size_t)(dot - path));
        char *text = cc_arena_alloc(a, len + 1);
        if (sm && text) {
            memcpy(text, data, len);
            text[len] = '\0'; /* a NUL inside ends the text: samples are text */
            if (in)
                sm->input = text;
            else
                sm->answer = text;
        }
        free(data);
    }
    cc_rpc_reply(call, &list->base);
}

static void loaded(cc_rpc_call *call, Codecourt__V1__Problem *p, void *ud)
{
    prob_state *st = ud;
    if (!p->version) {
        Codecourt__V1__SampleList none = CODECOURT__V1__SAMPLE_LIST__INIT;
        cc_rpc_reply(call, &none.base);
        return;
    }
    char num[16], max[16], lim[16];
    snprintf(num, sizeof num, "%d", p->version->number);
    snprintf(max, sizeof max, "%d", SAMPLE_MAX);
    snprintf(lim, sizeof lim, "%d", SAMPLES_MAX * 2);
    cc_pg_param prm[] = {CC_PG_TEXT(p->id), CC_PG_TEXT(num), CC_PG_TEXT(max), CC_PG_TEXT(lim)};
    cc_status s = cc_pg_query(
        st->pg,
        "SELECT f->>'path', (SELECT string_agg(c.data, ''::bytea ORDER BY c.off) "
        "  FROM blob_chunks c WHERE c.owner = f->>'sha256') "
        "FROM versions v, jsonb_array_elements(v.files) f "
        "WHERE v.problem_id = $1::uuid AND v.number = $2::int "
        "AND f->>'path' LIKE 'data/sample/%' AND (f->>'size')::bigint <= $3::bigint "
        "ORDER BY f->>'path' LIMIT $4::int",
        prm, 4, got_files, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "load samples");
}

void prob_list_samples(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListSamplesRequest *rq = (const void *)req;
    if (!prob_slug_ok(rq->slug)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "problem not found");
        return;
    }
    prob_state *st = prob_state_of(actor);
    prob_load(call, st, rq->slug, rq->version, false, loaded, st);
}
