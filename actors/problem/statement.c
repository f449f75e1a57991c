/* Problem statements: Markdown rendered to safe HTML with cmark, and the
 * setter's preview of a statement not saved yet (RenderStatement). */
#include <cmark.h>
#include <stdlib.h>
#include <string.h>

#include "problem.h"

char *prob_markdown_html(const char *md, size_t len)
{
    /* CMARK_OPT_DEFAULT is safe since cmark 0.29 (raw HTML becomes a
     * comment, dangerous URLs become ""); CMARK_OPT_SAFE says so for older
     * versions. */
    return cmark_markdown_to_html(md, len, CMARK_OPT_DEFAULT | CMARK_OPT_SAFE);
}

/* RenderStatement: a statement being written, rendered as it would be
 * stored, for the setter's preview. Only setters and admins write
 * statements; the text is bounded like a statement. */
void prob_render_statement(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    (void)actor;
    const Codecourt__V1__RenderStatementRequest *rq = (const void *)req;
    cc_role role = cc_rpc_principal(call)->role;
    if (role != CC_ROLE_SETTER && role != CC_ROLE_ADMIN) {
        cc_rpc_fail(call, CC_DENIED, "only setters and admins write statements");
        return;
    }
    size_t n = strlen(rq->statement_markdown);
    if (n > (1 << 20)) {
        cc_rpc_fail(call, CC_INVALID, "statement_markdown: at most 1 MiB");
        return;
    }
    char *html = prob_markdown_html(rq->statement_markdown, n);
    Codecourt__V1__RenderedStatement out = CODECOURT__V1__RENDERED_STATEMENT__INIT;
    out.statement_html = html ? cc_arena_strdup(cc_rpc_arena(call), html) : NULL;
    free(html);
    if (!out.statement_html) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    cc_rpc_reply(call, &out.base);
}
