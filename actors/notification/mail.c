/* The mailer: sends the email rows that are due over SMTP with libcurl.
 *
 * A pass claims due rows (status pending, next_attempt_at passed, not
 * claimed by another sender) with FOR UPDATE SKIP LOCKED and a
 * locked_until lease, so two replicas never send one row at once. Each
 * message is sent by curl_easy_perform on libuv's thread pool (at most
 * smtp-concurrency at once, each bounded by smtp-timeout), so a slow or
 * dead SMTP server never blocks the loop nor holds more than those
 * threads. The outcome is written back on the loop: sent; or pending
 * again after a backoff (smtp-retry-min doubled per attempt, capped at
 * smtp-retry-max) with the reason; or failed with the reason after
 * smtp-attempts tries or a permanent (5xx) refusal. STARTTLS is used
 * whenever the server offers it (CURLUSESSL_TRY); smtps:// URLs are TLS
 * from the start. */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/buf.h"
#include "cc/log.h"
#include "cc/trace.h"
#include "notify.h"

typedef struct job {
    uv_work_t work;
    notify_state *st;
    char id[32];
    int attempts;
    char to[256];
    char from_addr[256];
    char *data; /* the whole message, CRLF lines */
    size_t len, off;
    cc_span span; /* "notify email send": one attempt, in the event's trace */
    /* results, written by the worker */
    CURLcode rc;
    long smtp_code;
    char err[CURL_ERROR_SIZE];
} job;

static void claim(notify_state *st);

/* ---- building the message ----------------------------------------------------- */

/* Body text with every line ending as CRLF. */
static void mput_lines(cc_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\r')
            continue;
        if (*s == '\n')
            cc_buf_put(b, "\r\n", 2);
        else
            cc_buf_put(b, s, 1);
    }
    if (b->len < 2 || memcmp(b->p + b->len - 2, "\r\n", 2) != 0)
        cc_buf_put(b, "\r\n", 2);
}

static void mput_b64(cc_buf *b, const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char o[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        cc_buf_put(b, o, 4);
    }
}

/* A header value on one line: CR and LF become spaces (no header
 * injection), and non-ASCII text is an RFC 2047 encoded word. */
static void mput_header(cc_buf *b, const char *name, const char *v)
{
    size_t n = strlen(v);
    char *clean = malloc(n + 1);
    if (!clean) {
        b->oom = true;
        return;
    }
    bool ascii = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        clean[i] = ch == '\r' || ch == '\n' ? ' ' : (char)ch;
        if (ch >= 0x80)
            ascii = false;
    }
    clean[n] = '\0';
    cc_buf_puts(b, name);
    cc_buf_puts(b, ": ");
    if (ascii) {
        cc_buf_puts(b, clean);
    } else {
        cc_buf_puts(b, "=?UTF-8?B?");
        mput_b64(b, (const unsigned char *)clean, n);
        cc_buf_puts(b, "?=");
    }
    cc_buf_puts(b, "\r\n");
    free(clean);
}

static char *build_message(const notify_settings *cfg, const char *id, const char *to,
                           const char *subject, const char *text, const char *html, size_t *len)
{
    cc_buf b = CC_BUF_INIT;
    char boundary[64], rnd[17], date[64], line[512];
    cc_random_hex(rnd, 16);
    snprintf(boundary, sizeof boundary, "cc-%s-%s", id, rnd);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    mput_header(&b, "From", cfg->smtp_from);
    mput_header(&b, "To", to);
    mput_header(&b, "Subject", subject);
    mput_header(&b, "Date", date);
    snprintf(line, sizeof line, "<cc-notify-%s.%s@codecourt>", id, rnd);
    mput_header(&b, "Message-ID", line);
    cc_buf_puts(&b, "MIME-Version: 1.0\r\n");
    cc_buf_printf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
    cc_buf_printf(&b,
                  "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n",
                  boundary);
    mput_lines(&b, text);
    cc_buf_printf(&b,
                  "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n",
                  boundary);
    mput_lines(&b, html);
    cc_buf_printf(&b, "--%s--\r\n", boundary);
    return cc_buf_take(&b, len);
}

/* "Name <a@b>" -> "a@b"; a bare address stays. */
static void addr_of(const char *from, char *out, size_t cap)
{
    const char *lt = strrchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(out, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, cap, "%s", from);
}

/* ---- sending (thread pool) ----------------------------------------------------- */

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
    job *j = ud;
    size_t k = size * n, left = j->len - j->off;
    if (k > left)
        k = left;
    memcpy(buf, j->data + j->off, k);
    j->off += k;
    return k;
}

static void send_work(uv_work_t *w)
{
    job *j = w->data;
    const notify_settings *cfg = j->st->cfg;
    CURL *c = curl_easy_init();
    if (!c) {
        j->rc = CURLE_FAILED_INIT;
        snprintf(j->err, sizeof j->err, "curl_easy_init failed");
        return;
    }
    char from[300], rcpt[300];
    snprintf(from, sizeof from, "<%s>", j->from_addr);
    snprintf(rcpt, sizeof rcpt, "<%s>", j->to);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    curl_easy_setopt(c, CURLOPT_URL, cfg->smtp_url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    if (cfg->smtp_user[0]) {
        curl_easy_setopt(c, CURLOPT_USERNAME, cfg->smtp_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->smtp_password);
    }
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, j);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->smtp_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->smtp_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->err);
    j->err[0] = '\0';
    j->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->smtp_code);
    if (j->rc != CURLE_OK && !j->err[0])
        snprintf(j->err, sizeof j->err, "%s", curl_easy_strerror(j->rc));
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(c);
}

static void job_free(job *j)
{
    free(j->data);
    free(j);
}

static void marked(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    job *j = ud;
    notify_state *st = j->st;
    if (s != CC_OK)
        /* The lease runs out and the row is claimed again: at worst one
         * more copy of a message the server already took. */
        cc_log(CC_LOG_ERROR, NULL, "cannot record email status", "{s:s, s:s}", "id", j->id, "error",
               errmsg ? errmsg : cc_status_str(s));
    st->sending--;
    cc_bus_work_end(cc_actor_bus(st->actor));
    job_free(j);
    if (!st->stopping)
        claim(st);
}

static void send_after(uv_work_t *w, int status)
{
    job *j = w->data;
    notify_state *st = j->st;
    const notify_settings *cfg = st->cfg;
    cc_status s;
    cc_span_attr_int(&j->span, "codecourt.smtp.code", j->smtp_code);
    if (j->rc != CURLE_OK)
        cc_span_fail(&j->span, j->err);
    cc_span_end(&j->span);
    if (j->rc == CURLE_OK) {
        cc_log(CC_LOG_INFO, NULL, "email sent", "{s:s, s:s, s:i}", "id", j->id, "to", j->to,
               "attempt", j->attempts);
        cc_pg_param p[] = {CC_PG_TEXT(j->id)};
        s = cc_pg_query(st->pg,
                        "UPDATE emails SET status = 'sent', sent_at = now(), locked_until = NULL, "
                        "last_error = '' WHERE id = $1::bigint",
                        p, 1, marked, j);
    } else {
        bool permanent = j->smtp_code >= 500 && j->smtp_code < 600;
        bool last = permanent || j->attempts >= cfg->smtp_attempts;
        int64_t delay = cfg->smtp_retry_min_ms;
        for (int i = 1; i < j->attempts && delay < cfg->smtp_retry_max_ms; i++)
            delay *= 2;
        if (delay > cfg->smtp_retry_max_ms)
            delay = cfg->smtp_retry_max_ms;
        char reason[CURL_ERROR_SIZE + 64], ms[32];
        snprintf(reason, sizeof reason, "%s (smtp %ld)", j->err, j->smtp_code);
        snprintf(ms, sizeof ms, "%" PRId64 " milliseconds", delay);
        cc_log(last ? CC_LOG_ERROR : CC_LOG_WARN, NULL,
               last ? "email failed" : "email not sent; will retry", "{s:s, s:s, s:i, s:s, s:I}",
               "id", j->id, "to", j->to, "attempt", j->attempts, "error", reason, "retry_ms",
               (json_int_t)(last ? 0 : delay));
        cc_pg_param p[] = {CC_PG_TEXT(j->id), CC_PG_TEXT(last ? "failed" : "pending"),
                           CC_PG_TEXT(reason), CC_PG_TEXT(ms)};
        s = cc_pg_query(st->pg,
                        "UPDATE emails SET status = $2, last_error = $3, locked_until = NULL, "
                        "next_attempt_at = now() + $4::interval WHERE id = $1::bigint",
                        p, 4, marked, j);
    }
    if (s != CC_OK)
        marked(s, cc_err_msg(), NULL, j);
}

/* ---- claiming ---------------------------------------------------------------- */

static void claimed(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    notify_state *st = ud;
    st->claiming = false;
    if (s != CC_OK) {
        if (s != CC_CLOSED)
            cc_log(CC_LOG_WARN, NULL, "cannot look for due emails", "{s:s}", "error",
                   errmsg ? errmsg : cc_status_str(s));
        return;
    }
    int n = cc_pg_nrows(r);
    for (int i = 0; i < n; i++) {
        job *j = calloc(1, sizeof *j);
        if (!j)
            break;
        j->st = st;
        j->work.data = j;
        snprintf(j->id, sizeof j->id, "%s", cc_pg_get(r, i, 0));
        snprintf(j->to, sizeof j->to, "%s", cc_pg_get(r, i, 1));
        j->attempts = (int)strtol(cc_pg_get(r, i, 5), NULL, 10);
        /* A row stored before traces were kept has none: no span. */
        const char *tp = cc_pg_get(r, i, 6);
        if (cc_traceparent_valid(tp)) {
            cc_span_start(&j->span, "notify email send", CC_SPAN_CLIENT, tp);
            cc_span_attr(&j->span, "codecourt.email.id", j->id);
            cc_span_attr_int(&j->span, "codecourt.attempt", j->attempts);
        }
        addr_of(st->cfg->smtp_from, j->from_addr, sizeof j->from_addr);
        j->data = build_message(st->cfg, j->id, j->to, cc_pg_get(r, i, 2), cc_pg_get(r, i, 3),
                                cc_pg_get(r, i, 4), &j->len);
        if (!j->data) {
            job_free(j);
            break; /* the lease runs out; retried later */
        }
        st->sending++;
        cc_bus_work_begin(cc_actor_bus(st->actor));
        if (uv_queue_work(cc_actor_loop(st->actor), &j->work, send_work, send_after) != 0) {
            st->sending--;
            cc_bus_work_end(cc_actor_bus(st->actor));
            job_free(j);
        }
    }
    /* A kick that came while claiming, or a full batch: look again. */
    if ((st->kick || n > 0) && !st->stopping) {
        st->kick = false;
        claim(st);
    }
}

static void claim(notify_state *st)
{
    if (st->stopping || !st->cfg->smtp_url[0])
        return;
    if (st->claiming) {
        st->kick = true;
        return;
    }
    int64_t room = st->cfg->smtp_concurrency - st->sending;
    if (room <= 0)
        return;
    char lim[24], lease[48];
    snprintf(lim, sizeof lim, "%" PRId64, room);
    snprintf(lease, sizeof lease, "%" PRId64 " milliseconds", 2 * st->cfg->smtp_timeout_ms + 10000);
    cc_pg_param p[] = {CC_PG_TEXT(lim), CC_PG_TEXT(lease)};
    cc_status s = cc_pg_query(
        st->pg,
        "UPDATE emails e SET locked_until = now() + $2::interval, attempts = e.attempts + 1 "
        "WHERE e.id IN (SELECT id FROM emails WHERE status = 'pending' "
        "  AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now()) "
        "  ORDER BY next_attempt_at, id LIMIT $1::int FOR UPDATE SKIP LOCKED) "
        "RETURNING e.id::text, e.to_addr, e.subject, e.text_body, e.html_body, e.attempts, "
        "e.traceparent",
        p, 2, claimed, st);
    if (s == CC_OK)
        st->claiming = true;
}

static void on_tick(uv_timer_t *t)
{
    claim(t->data);
}

void notify_mail_kick(notify_state *st)
{
    claim(st);
}

cc_status notify_mail_start(notify_state *st)
{
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return cc_err_set(CC_INTERNAL, "curl_global_init failed");
    if (!st->cfg->smtp_url[0]) {
        cc_log(CC_LOG_WARN, NULL, "email disabled: smtp-url is not set", NULL);
        return CC_OK;
    }
    if (strncmp(st->cfg->smtp_url, "smtp://", 7) && strncmp(st->cfg->smtp_url, "smtps://", 8))
        return cc_err_set(CC_INVALID, "smtp-url '%s': must start with smtp:// or smtps://",
                          st->cfg->smtp_url);
    uv_timer_init(cc_actor_loop(st->actor), &st->mail_timer);
    st->mail_timer.data = st;
    st->mail_timer_open = true;
    uv_timer_start(&st->mail_timer, on_tick, 0, (uint64_t)st->cfg->mail_poll_ms);
    return CC_OK;
}

void notify_mail_stop(notify_state *st)
{
    if (st->mail_timer_open) {
        uv_timer_stop(&st->mail_timer);
        uv_close((uv_handle_t *)&st->mail_timer, NULL);
        st->mail_timer_open = false;
    }
}
