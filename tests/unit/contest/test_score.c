/* The scoring policy of cc-contest (actors/contest/score.c) against rules
 * stated by hand: ICPC penalties, what counts as a try, first AC, the end
 * and the freeze; IOI's subtask-wise best and scaling; the order of
 * teams and its ties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "contest.h"

#define MINUTE 60000

static con_rules icpc(void)
{
    return (con_rules){.scoring = CODECOURT__V1__SCORING__SCORING_ICPC,
                       .penalty_minutes = 20,
                       .duration_ms = 300 * MINUTE,
                       .freeze_ms = 240 * MINUTE,
                       .points = 100};
}

static con_try t(int64_t ms, const char *id, const char *verdict)
{
    return (con_try){.time_ms = ms, .id = id, .judged = verdict != NULL, .verdict = verdict ? verdict : ""};
}

static void icpc_penalty_counts_rejected_tries_before_the_first_ac(void **state)
{
    con_rules r = icpc();
    /* Given out of order: WA at 10:30, TLE at 12:00, AC at 47:59, WA at
     * 50:00 (after the AC: nothing). */
    con_try v[] = {t(47 * MINUTE + 59000, "c", "AC"), t(10 * MINUTE + 30000, "a", "WA"),
                   t(50 * MINUTE, "d", "WA"), t(12 * MINUTE, "b", "TLE")};
    con_cell c;
    con_score_cell(&r, v, 4, &c);
    assert_true(c.solved);
    assert_int_equal(c.tries, 3);
    assert_int_equal(c.minutes, 47);
    assert_int_equal(c.penalty, 47 + 2 * 20);
    assert_int_equal(c.solve_ms, 47 * MINUTE + 59000);
    assert_int_equal(c.pending, 0);
}

static void compile_and_internal_errors(void **state)
{
    con_rules r = icpc();
    con_try v[] = {t(1 * MINUTE, "a", "CE"), t(2 * MINUTE, "b", "IE"), t(3 * MINUTE, "c", "RE"),
                   t(4 * MINUTE, "d", "AC")};
    con_cell c;
    con_score_cell(&r, v, 4, &c);
    /* CE does not count by default, IE never: one rejected try. */
    assert_int_equal(c.tries, 2);
    assert_int_equal(c.penalty, 4 + 20);
    r.ce_penalty = true;
    con_score_cell(&r, v, 4, &c);
    assert_int_equal(c.tries, 3);
    assert_int_equal(c.penalty, 4 + 40);
    assert_false(con_verdict_rejected("IE", true));
    assert_true(con_verdict_rejected("CE", true));
    assert_false(con_verdict_rejected("CE", false));
}

static void pending_and_the_end(void **state)
{
    con_rules r = icpc();
    /* A WA, one not judged yet, then an AC after the end: not counted. */
    con_try v[] = {t(5 * MINUTE, "a", "WA"), t(6 * MINUTE, "b", NULL), t(300 * MINUTE, "c", "AC")};
    con_cell c;
    con_score_cell(&r, v, 3, &c);
    assert_false(c.solved);
    assert_int_equal(c.tries, 1);
    assert_int_equal(c.pending, 1);
    assert_int_equal(c.penalty, 0);
}

static void the_freeze_hides_from_the_public_only(void **state)
{
    con_rules r = icpc();
    con_try v[] = {t(200 * MINUTE, "a", "WA"), t(241 * MINUTE, "b", "WA"), t(250 * MINUTE, "c", "AC")};
    con_cell jury, pub;
    con_score_cell(&r, v, 3, &jury);
    r.public_view = true;
    con_score_cell(&r, v, 3, &pub);
    assert_true(jury.solved);
    assert_int_equal(jury.penalty, 250 + 40);
    assert_false(pub.solved);
    assert_int_equal(pub.tries, 1);
    assert_int_equal(pub.pending, 2);
    /* Unfrozen (no freeze any more): the public sees what the jury sees. */
    r.freeze_ms = -1;
    con_score_cell(&r, v, 3, &pub);
    assert_true(pub.solved);
    assert_int_equal(pub.penalty, jury.penalty);
}

static void ioi_keeps_each_subtasks_best(void **state)
{
    con_rules r = {.scoring = CODECOURT__V1__SCORING__SCORING_IOI,
                   .duration_ms = 300 * MINUTE,
                   .freeze_ms = -1,
                   .points = 100};
    Codecourt__V1__GroupScore g1a = CODECOURT__V1__GROUP_SCORE__INIT,
                              g2a = CODECOURT__V1__GROUP_SCORE__INIT,
                              g1b = CODECOURT__V1__GROUP_SCORE__INIT,
                              g2b = CODECOURT__V1__GROUP_SCORE__INIT;
    g1a.name = g1b.name = "secret/group1";
    g2a.name = g2b.name = "secret/group2";
    g1a.score = 40, g1a.max_score = 40, g2a.score = 0, g2a.max_score = 60;
    g1b.score = 0, g1b.max_score = 40, g2b.score = 60, g2b.max_score = 60;
    const Codecourt__V1__GroupScore *ga[] = {&g1a, &g2a}, *gb[] = {&g1b, &g2b};
    con_try v[] = {
        {.time_ms = 10 * MINUTE, .id = "a", .judged = true, .verdict = "WA", .score = 40,
         .max_score = 100, .groups = ga, .ngroups = 2},
        {.time_ms = 20 * MINUTE, .id = "b", .judged = true, .verdict = "WA", .score = 60,
         .max_score = 100, .groups = gb, .ngroups = 2},
        {.time_ms = 30 * MINUTE, .id = "c", .judged = true, .verdict = "CE", .max_score = 100},
    };
    con_cell c;
    con_score_cell(&r, v, 1, &c);
    assert_true(c.score > 39.999 && c.score < 40.001);
    con_score_cell(&r, v, 3, &c);
    /* 40 from the first, 60 from the second: 100, more than either. */
    assert_true(c.score > 99.999 && c.score < 100.001);
    assert_true(c.solved);
    assert_int_equal(c.tries, 3);
    assert_int_equal(c.improved_ms, 20 * MINUTE);
    /* Scaled to the contest's points. */
    r.points = 250;
    con_score_cell(&r, v, 3, &c);
    assert_true(c.score > 249.999 && c.score < 250.001);
    /* Results without groups: the best total. */
    con_try w[] = {{.time_ms = 1, .id = "x", .judged = true, .verdict = "WA", .score = 30,
                    .max_score = 100},
                   {.time_ms = 2, .id = "y", .judged = true, .verdict = "WA", .score = 20,
                    .max_score = 100}};
    r.points = 100;
    con_score_cell(&r, w, 2, &c);
    assert_true(c.score > 29.999 && c.score < 30.001);
    assert_false(c.solved);
}

static void ranking_and_ties(void **state)
{
    con_total a = {.solved = 3, .penalty = 200, .last_ms = 100 * MINUTE};
    con_total b = {.solved = 3, .penalty = 200, .last_ms = 100 * MINUTE + 59000};
    con_total c = {.solved = 3, .penalty = 200, .last_ms = 101 * MINUTE};
    con_total d = {.solved = 2, .penalty = 10};
    con_total e = {.solved = 3, .penalty = 199, .last_ms = 280 * MINUTE};
    Codecourt__V1__Scoring s = CODECOURT__V1__SCORING__SCORING_ICPC;
    assert_int_equal(con_total_cmp(s, &a, &b), 0); /* the same minute: a tie */
    assert_true(con_total_cmp(s, &a, &c) < 0);     /* an earlier last AC */
    assert_true(con_total_cmp(s, &d, &a) > 0);     /* fewer solved */
    assert_true(con_total_cmp(s, &e, &a) < 0);     /* less penalty */
    con_cell x = {.solved = true, .penalty = 60, .improved_ms = 40 * MINUTE},
             y = {.solved = false, .penalty = 0, .tries = 3};
    con_total t0 = {0};
    con_total_add(&t0, &x);
    con_total_add(&t0, &y);
    assert_int_equal(t0.solved, 1);
    assert_int_equal(t0.penalty, 60);
    assert_int_equal(t0.last_ms, 40 * MINUTE);
    con_total p = {.score = 150}, q = {.score = 150.0000000001}, z = {.score = 90};
    s = CODECOURT__V1__SCORING__SCORING_IOI;
    assert_int_equal(con_total_cmp(s, &p, &q), 0);
    assert_true(con_total_cmp(s, &z, &p) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(icpc_penalty_counts_rejected_tries_before_the_first_ac),
        cmocka_unit_test(compile_and_internal_errors),
        cmocka_unit_test(pending_and_the_end),
        cmocka_unit_test(the_freeze_hides_from_the_public_only),
        cmocka_unit_test(ioi_keeps_each_subtasks_best),
        cmocka_unit_test(ranking_and_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
