/* A small YAML tree over libyaml's event parser. Package files are small,
 * so the judge loads them whole and walks the tree; the caps below keep a
 * hostile package from making the tree unbounded. Anchors and aliases are
 * refused: no package needs them and they are how "billion laughs" works. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_BYTES (1u << 20)
#define YAML_MAX_DEPTH 32
#define YAML_MAX_NODES 100000

typedef struct {
    yaml_parser_t p;
    const char *name;
    pkg_diags *d;
    size_t nodes;
    cc_status st;
} yctx;

static cc_status yfail(yctx *c, int line, const char *what)
{
    if (c->st == CC_OK)
        c->st = pkg__fail(c->d, c->name, line, "%s", what);
    return c->st;
}

static void add_item(ynode *n, char *key, ynode *v)
{
    n->items = judge__xrealloc(n->items, (n->n + 1) * sizeof *n->items);
    if (n->kind == YN_MAP) {
        n->keys = judge__xrealloc(n->keys, (n->n + 1) * sizeof *n->keys);
        n->keys[n->n] = key;
    }
    n->items[n->n++] = v;
}

static ynode *parse_node(yctx *c, yaml_event_t *ev, int depth);

/* Parses the children of a sequence or mapping until its end event. */
static bool parse_children(yctx *c, ynode *n, int depth)
{
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&c->p, &ev)) {
            yfail(c, (int)c->p.problem_mark.line + 1,
                  c->p.problem ? c->p.problem : "syntax error");
            return false;
        }
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return true;
        }
        char *key = NULL;
        if (n->kind == YN_MAP) {
            if (ev.type != YAML_SCALAR_EVENT) {
                yfail(c, (int)ev.start_mark.line + 1, "mapping keys must be plain strings");
                yaml_event_delete(&ev);
                return false;
            }
            key = judge__xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            int kline = (int)ev.start_mark.line + 1;
            yaml_event_delete(&ev);
            if (ymap_get(n, key)) {
                char what[300];
                snprintf(what, sizeof what, "duplicate key '%.200s'", key);
                yfail(c, kline, what);
                free(key);
                return false;
            }
            if (!yaml_parser_parse(&c->p, &ev)) {
                free(key);
                yfail(c, (int)c->p.problem_mark.line + 1,
                      c->p.problem ? c->p.problem : "syntax error");
                return false;
            }
        }
        ynode *v = parse_node(c, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!v) {
            free(key);
            return false;
        }
        add_item(n, key, v);
    }
}

static ynode *parse_node(yctx *c, yaml_event_t *ev, int depth)
{
    int line = (int)ev->start_mark.line + 1;
    if (depth > YAML_MAX_DEPTH) {
        yfail(c, line, "nested too deeply");
        return NULL;
    }
    if (++c->nodes > YAML_MAX_NODES) {
        yfail(c, line, "too many nodes");
        return NULL;
    }
    ynode *n = judge__xcalloc(1, sizeof *n);
    n->line = line;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor) {
            yfail(c, line, "anchors are not supported");
            free(n);
            return NULL;
        }
        n->kind = YN_SCALAR;
        n->str = judge__xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        return n;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        n->kind = ev->type == YAML_SEQUENCE_START_EVENT ? YN_SEQ : YN_MAP;
        if ((ev->type == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor) ||
            (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor)) {
            yfail(c, line, "anchors are not supported");
            free(n);
            return NULL;
        }
        if (!parse_children(c, n, depth)) {
            ynode_free(n);
            return NULL;
        }
        return n;
    case YAML_ALIAS_EVENT:
        yfail(c, line, "aliases are not supported");
        break;
    default:
        yfail(c, line, "unexpected YAML event");
        break;
    }
    free(n);
    return NULL;
}

cc_status ydoc_load_mem(const char *name, const char *data, size_t len, pkg_diags *d,
                        ynode **out)
{
    *out = NULL;
    yctx c = {.name = name, .d = d, .st = CC_OK};
    if (!yaml_parser_initialize(&c.p))
        return cc_err_set(CC_NOMEM, "%s: cannot initialise the YAML parser", name);
    yaml_parser_set_input_string(&c.p, (const unsigned char *)data, len);
    ynode *root = NULL;
    bool in_doc = false, done = false;
    while (!done && c.st == CC_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&c.p, &ev)) {
            yfail(&c, (int)c.p.problem_mark.line + 1, c.p.problem ? c.p.problem : "syntax error");
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (root) {
                yfail(&c, (int)ev.start_mark.line + 1, "more than one YAML document");
            }
            in_doc = true;
            break;
        case YAML_DOCUMENT_END_EVENT:
            in_doc = false;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_ALIAS_EVENT:
            if (in_doc && !root)
                root = parse_node(&c, &ev, 0);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&c.p);
    if (c.st != CC_OK) {
        ynode_free(root);
        return c.st;
    }
    /* An empty scalar document ("" or "~") is the same as no content. */
    if (root && root->kind == YN_SCALAR && (!root->str[0] || !strcmp(root->str, "~") ||
                                            !strcmp(root->str, "null"))) {
        ynode_free(root);
        root = NULL;
    }
    *out = root;
    return CC_OK;
}

cc_status ydoc_load_file(const char *root_dir, const char *path, ynode **out)
{
    char *data;
    size_t len;
    bool trunc;
    *out = NULL;
    cc_status s = judge__read_file(root_dir, path, YAML_MAX_BYTES, &data, &len, &trunc);
    if (s != CC_OK)
        return s;
    if (trunc) {
        free(data);
        return cc_err_set(CC_INVALID, "%s: larger than %u bytes", path, YAML_MAX_BYTES);
    }
    s = ydoc_load_mem(path, data, len, NULL, out);
    free(data);
    return s;
}

void ynode_free(ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        ynode_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->str);
    free(n);
}

const ynode *ymap_get(const ynode *map, const char *key)
{
    if (!map || map->kind != YN_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (!strcmp(map->keys[i], key))
            return map->items[i];
    return NULL;
}

const char *yscalar(const ynode *n)
{
    return n && n->kind == YN_SCALAR ? n->str : NULL;
}

bool ynum(const ynode *n, double *out)
{
    return judge__parse_double(yscalar(n), out);
}

bool ybool(const ynode *n, bool *out)
{
    const char *s = yscalar(n);
    if (!s)
        return false;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no")) {
        *out = false;
        return true;
    }
    return false;
}
