/* The sample problem "aplusb", created at start when missing so that a
 * fresh `make run` has something to judge. Ten secret tests (plus the
 * sample): the submissions benchmark (issue 6) judges "A+B with 10 tests". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "problem.h"

static const struct {
    const char *path, *text;
} files[] = {
    {"problem.yaml", "name: \"A plus B\"\nlimits:\n  time_limit: 1.000\n  memory: 256\n"},
    {"statement/problem.en.md",
     "# A plus B\n\nRead two integers *a* and *b* (|a|, |b| <= 10^9) and print *a + b*.\n\n"
     "## Input\n\nOne line with `a` and `b`.\n\n## Output\n\nOne line with their sum.\n"},
    {"data/sample/1.in", "1 2\n"},
    {"data/sample/1.ans", "3\n"},
    {"data/secret/01.in", "0 0\n"},
    {"data/secret/01.ans", "0\n"},
    {"data/secret/02.in", "-5 12\n"},
    {"data/secret/02.ans", "7\n"},
    {"data/secret/03.in", "1000000000 1000000000\n"},
    {"data/secret/03.ans", "2000000000\n"},
    {"data/secret/04.in", "-1000000000 -1000000000\n"},
    {"data/secret/04.ans", "-2000000000\n"},
    {"data/secret/05.in", "7 -7\n"},
    {"data/secret/05.ans", "0\n"},
    {"data/secret/06.in", "123456789 987654321\n"},
    {"data/secret/06.ans", "1111111110\n"},
    {"data/secret/07.in", "-1 1\n"},
    {"data/secret/07.ans", "0\n"},
    {"data/secret/08.in", "999999999 1\n"},
    {"data/secret/08.ans", "1000000000\n"},
    {"data/secret/09.in", "-42 -58\n"},
    {"data/secret/09.ans", "-100\n"},
    {"data/secret/10.in", "314159 271828\n"},
    {"data/secret/10.ans", "585987\n"},
    {"submissions/accepted/sum.c",
     "#include <stdio.h>\nint main(void)\n{\n    long long a, b;\n    if (scanf(\"%lld %lld\", "
     "&a, &b) != 2)\n        return 1;\n    printf(\"%lld\\n\", a + b);\n    return 0;\n}\n"},
    {"submissions/accepted/sum.py", "a, b = map(int, input().split())\nprint(a + b)\n"},
    {"submissions/wrong_answer/overflow.c",
     "#include <stdio.h>\nint main(void)\n{\n    int a, b;\n    if (scanf(\"%d %d\", &a, &b) "
     "!= 2)\n        return 1;\n    printf(\"%d\\n\", a + b);\n    return 0;\n}\n"},
};

cc_status prob_seed(prob_state *st)
{
    PGconn *c = prob_db_connect(st);
    if (!c)
        return cc_err_set(CC_UNAVAILABLE, "seed: %s", cc_err_msg());
    cc_status s;
    PGresult *r = prob_db_exec(c, "BEGIN", 0, NULL, false, &s);
    PQclear(r);
    /* Serialises replicas that start together. */
    PQclear(prob_db_exec(c, "SELECT pg_advisory_xact_lock(7342001)", 0, NULL, false, &s));
    const char *vals[] = {"aplusb"};
    r = prob_db_exec(c, "SELECT 1 FROM problems WHERE slug = $1 AND deleted_at IS NULL", 1, vals,
                     false, &s);
    bool exists = r && PQntuples(r) > 0;
    PQclear(r);
    pkg_files p = {0};
    pkg_meta m = {0};
    if (s == CC_OK && !exists) {
        for (size_t i = 0; s == CC_OK && i < sizeof files / sizeof files[0]; i++) {
            char sha[65];
            s = prob_db_put_mem(c, files[i].text, strlen(files[i].text), sha);
            if (s == CC_OK)
                pkg_add(&p, files[i].path, sha, (int64_t)strlen(files[i].text), files[i].text);
        }
        if (s == CC_OK && (pkg_sort(&p, NULL) != CC_OK || pkg_check(&p, NULL, &m, NULL) != CC_OK))
            s = cc_err_set(CC_UNPROCESSABLE, "%s", cc_err_msg());
        char *html = s == CC_OK ? prob_markdown_html(m.statement_md, strlen(m.statement_md))
                                : NULL;
        prob_commit pc = {.slug = "aplusb",
                          .title = "A plus B",
                          .owner_id = "system",
                          .visibility = "public",
                          .difficulty = "easy",
                          .tags_json = "[\"math\",\"implementation\"]",
                          .rating = 800,
                          .created_by = "system",
                          .files = &p,
                          .meta = &m,
                          .statement_html = html};
        IFOK(s, prob_db_commit(c, &pc));
        free(html);
        if (s == CC_OK)
            cc_log(CC_LOG_INFO, NULL, "seeded the sample problem", "{s:s}", "slug", "aplusb");
    }
    /* The message of a failure is set already: nothing below sets one. */
    PQclear(PQexec(c, s == CC_OK ? "COMMIT" : "ROLLBACK"));
    PQfinish(c);
    pkg_meta_free(&m);
    pkg_free(&p);
    if (s != CC_OK)
        return cc_err_set(s, "seed: %s", cc_err_msg());
    return CC_OK;
}
