/* Helpers the stats actor shares: the caller and names. */
#include <string.h>

#include "stats.h"

bool st_principal(const cc_rpc_call *call, char id[64])
{
    const char *p = cc_rpc_envelope(call)->principal;
    const char *colon = strrchr(p, ':');
    id[0] = '\0';
    if (!p[0] || !colon || colon == p || (size_t)(colon - p) >= 64)
        return false;
    memcpy(id, p, (size_t)(colon - p));
    id[colon - p] = '\0';
    return true;
}

const char *st_difficulty_name(Codecourt__V1__Difficulty d)
{
    switch (d) {
    case CODECOURT__V1__DIFFICULTY__DIFFICULTY_EASY:
        return "easy";
    case CODECOURT__V1__DIFFICULTY__DIFFICULTY_MEDIUM:
        return "medium";
    case CODECOURT__V1__DIFFICULTY__DIFFICULTY_HARD:
        return "hard";
    default:
        return "";
    }
}
