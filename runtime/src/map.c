/* Text-keyed hash map (see cc/map.h). */
#include "cc/map.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, 64 bits: keys here are ids and slugs, short and not chosen by
 * an attacker to collide in bulk (they are validated names or UUIDs). */
static uint64_t hash_of(const char *k)
{
    uint64_t h = 14695981039346656037ull;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

void cc_map_free(cc_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t find(const cc_map *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

void *cc_map_get(const cc_map *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t i = find(m, key, hash_of(key));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static cc_status grow(cc_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    cc_map_slot *s = calloc(cap, sizeof *s);
    if (!s)
        return cc_err_set(CC_NOMEM, "out of memory");
    cc_map old = *m;
    m->slots = s;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            m->slots[find(m, old.slots[i].key, old.slots[i].hash)] = old.slots[i];
    free(old.slots);
    return CC_OK;
}

cc_status cc_map_put(cc_map *m, const char *key, void *value, void **old)
{
    if (old)
        *old = NULL;
    if ((m->len + 1) * 4 > m->cap * 3) {
        cc_status s = grow(m);
        if (s != CC_OK)
            return s;
    }
    uint64_t h = hash_of(key);
    size_t i = find(m, key, h);
    if (m->slots[i].key) {
        if (old)
            *old = m->slots[i].value;
        m->slots[i].value = value;
        return CC_OK;
    }
    char *k = strdup(key);
    if (!k)
        return cc_err_set(CC_NOMEM, "out of memory");
    m->slots[i] = (cc_map_slot){k, h, value};
    m->len++;
    return CC_OK;
}

void *cc_map_del(cc_map *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1, i = find(m, key, hash_of(key));
    if (!m->slots[i].key)
        return NULL;
    void *v = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->len--;
    /* Backward shift: move later members of the run into the hole when
     * their home slot does not lie between the hole and them. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return v;
}

bool cc_map_next(const cc_map *m, size_t *i, const char **key, void **value)
{
    for (; *i < m->cap; (*i)++)
        if (m->slots[*i].key) {
            *key = m->slots[*i].key;
            *value = m->slots[*i].value;
            (*i)++;
            return true;
        }
    return false;
}
