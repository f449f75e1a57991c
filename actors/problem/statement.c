/* Problem statements: Markdown rendered to safe HTML with cmark. */
#include <cmark.h>

#include "problem.h"

char *prob_markdown_html(const char *md, size_t len)
{
    /* CMARK_OPT_DEFAULT is safe since cmark 0.29 (raw HTML becomes a
     * comment, dangerous URLs become ""); CMARK_OPT_SAFE says so for older
     * versions. */
    return cmark_markdown_to_html(md, len, CMARK_OPT_DEFAULT | CMARK_OPT_SAFE);
}
