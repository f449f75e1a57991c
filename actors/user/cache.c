/* GetMe answers kept in memory: the packed User of recently seen users,
 * so the hottest authenticated read costs no PostgreSQL query.
 *
 * Staying right with several replicas: a trigger (migration 0002) sends
 * NOTIFY cc_user_changed with the user id after every committed change
 * to a user row, and each replica drops that entry when it arrives; the
 * replica that made the change also drops it before answering, so its
 * own caller reads its write. A row read from PostgreSQL is kept only if
 * no change was announced while the read was out (a generation counter),
 * so a read that raced with an update cannot put the old row back. While
 * the listening connection is down nothing is kept or served (NOTIFYs
 * would be missed), and when it comes back everything is dropped. Entries
 * also expire after profile-cache-ttl, a bound on any window this leaves
 * (another replica's change becomes visible here when its NOTIFY arrives,
 * normally within milliseconds).
 *
 * Direct-mapped: a user id hashes to one slot, and a newcomer replaces
 * whoever held it, so memory stays bounded with no eviction list. Loop
 * thread only. */
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/metrics.h"
#include "user.h"

typedef struct entry {
    char id[37];
    uint64_t expires_ns;
    uint8_t *data;
    size_t len;
} entry;

static entry *slots;
static size_t nslots;
static uint64_t gen;
static cc_counter *m_hits, *m_misses;

static size_t slot_of(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)(h % nslots);
}

static void drop(entry *e)
{
    free(e->data);
    memset(e, 0, sizeof *e);
}

static void drop_all(void)
{
    for (size_t i = 0; i < nslots; i++)
        drop(&slots[i]);
}

void user_cache_forget(const char *id)
{
    gen++;
    if (!slots || !id)
        return;
    entry *e = &slots[slot_of(id)];
    if (strcmp(e->id, id) == 0)
        drop(e);
}

static void on_changed(const char *channel, const char *payload, void *ud)
{
    (void)ud;
    if (!channel) {
        /* The listening connection (re)connected: changes made while it
         * was down went unannounced. */
        gen++;
        drop_all();
        return;
    }
    user_cache_forget(payload);
}

cc_status user_cache_init(user_state *st)
{
    if (st->cfg->profile_cache_size <= 0)
        return CC_OK;
    nslots = (size_t)st->cfg->profile_cache_size;
    slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return cc_err_set(CC_NOMEM, "profile cache of %zu entries", nslots);
    m_hits = cc_metrics_counter("cc_user_profile_cache_hits_total",
                                "GetMe answered from memory", NULL);
    m_misses = cc_metrics_counter("cc_user_profile_cache_misses_total",
                                  "GetMe answered from PostgreSQL", NULL);
    return cc_pg_listen(st->pg, "cc_user_changed", on_changed, NULL);
}

void user_cache_free(void)
{
    if (slots)
        drop_all();
    free(slots);
    slots = NULL;
    nslots = 0;
}

static bool usable(const user_state *st)
{
    return slots && cc_pg_listening(st->pg);
}

const uint8_t *user_cache_get(const user_state *st, const char *id, size_t *len)
{
    if (!usable(st))
        return NULL;
    entry *e = &slots[slot_of(id)];
    if (!e->data || strcmp(e->id, id) != 0 || e->expires_ns <= cc_now_ns()) {
        cc_counter_inc(m_misses);
        return NULL;
    }
    cc_counter_inc(m_hits);
    *len = e->len;
    return e->data;
}

uint64_t user_cache_gen(void)
{
    return gen;
}

void user_cache_put(const user_state *st, const char *id, uint64_t read_gen,
                    const ProtobufCMessage *user)
{
    if (!usable(st) || read_gen != gen || strlen(id) != 36)
        return;
    size_t len = protobuf_c_message_get_packed_size(user);
    uint8_t *data = malloc(len ? len : 1);
    if (!data)
        return;
    protobuf_c_message_pack(user, data);
    entry *e = &slots[slot_of(id)];
    drop(e);
    memcpy(e->id, id, 37);
    e->data = data;
    e->len = len;
    e->expires_ns = cc_now_ns() + (uint64_t)st->cfg->profile_cache_ttl_ms * 1000000ull;
}
