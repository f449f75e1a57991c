/* `cc-local backup FILE` and `cc-local restore FILE`: cc-admin (admin/)
 * run with the local stack's settings. A running cc-local writes them to
 * STATE/run/cc-admin.env (0600: the passwords are in it) at start, and
 * `backup` reads them there while `make run` runs. `restore` wants the
 * stack stopped: it starts the three servers alone, runs cc-admin restore,
 * and stops them; the next `make run` starts the services on the restored
 * data. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cc/local.h"

/* The databases cc-admin reads, as its settings name them. */
static const char *const dbs[][2] = {
    {"CC_PG_CONNINFO_USER", "cc_user"},
    {"CC_PG_CONNINFO_PROBLEM", "cc_problem"},
    {"CC_PG_CONNINFO_SUBMISSION", "cc_submission"},
    {"CC_PG_CONNINFO_NOTIFY", "cc_notification"},
    {"CC_PG_CONNINFO_CONTEST", "cc_contest"},
    {"CC_PG_CONNINFO_STATS", "cc_stats"},
};

int cc_local_admin_write_env(const cc_local_stack *s)
{
    char path[PATH_MAX];
    const cc_local_nats_user *admin = cc_local_nats_user_of(s, "backup");
    if (!admin || snprintf(path, sizeof path, "%s/run/cc-admin.env", s->dir) >= (int)sizeof path)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f, "CC_NATS_URL=%s\nCC_NATS_USER=%s\nCC_NATS_PASSWORD=%s\n", s->nats_url, admin->user,
            admin->password);
    if (s->tls_ca[0])
        fprintf(f, "CC_NATS_CA=%s\n", s->tls_ca);
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++)
        fprintf(f, "%s=%s\n", dbs[i][0], cc_local_pg_conninfo(s, dbs[i][1]));
    fprintf(f, "CC_SECRETS_DIR=%s/secrets\n", s->dir);
    return fclose(f) == 0 ? 0 : -1;
}

/* Sets each KEY=VALUE line of the file in the environment. */
static int load_env(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            setenv(line, eq + 1, 1);
        }
    }
    fclose(f);
    return 0;
}

/* Runs cc-admin, which sits next to cc-local (build/bin), with args; its
 * exit status. */
static int run_admin(char **args)
{
    char path[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 16);
    if (len <= 0)
        return 1;
    path[len] = '\0';
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, 16, "cc-admin");
    pid_t pid = fork();
    if (pid == 0) {
        args[0] = path;
        execv(path, args);
        fprintf(stderr, "cc-local: %s: %s (build it: cmake --build build --target cc-admin)\n",
                path, strerror(errno));
        _exit(127);
    }
    int ws;
    while (pid > 0 && waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    return pid > 0 && WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
}

static bool stack_running(const char *state)
{
    char path[PATH_MAX], buf[32] = "";
    snprintf(path, sizeof path, "%s/run/nats.pid", state);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    long pid = ok ? strtol(buf, NULL, 10) : 0;
    return pid > 1 && cc_local_pid_alive((pid_t)pid);
}

/* cc-local backup|restore FILE [--state DIR] [cc-admin settings...]: the
 * settings after FILE go to cc-admin as they are (--force, --with-secrets). */
int cc_local_admin_main(int argc, char **argv)
{
    const char *state = ".state";
    char *args[64];
    int n = 0;
    args[n++] = NULL; /* cc-admin's path */
    args[n++] = argv[1];
    for (int i = 2; i < argc && n < 60; i++) {
        if (!strcmp(argv[i], "--state") && i + 1 < argc)
            state = argv[++i];
        else if (!strncmp(argv[i], "--state=", 8))
            state = argv[i] + 8;
        else
            args[n++] = argv[i];
    }
    args[n] = NULL;
    if (n < 3) {
        fprintf(stderr, "usage: cc-local %s FILE [--state DIR] [--force] [--with-secrets]\n",
                argv[1]);
        return 2;
    }
    char env[PATH_MAX];
    snprintf(env, sizeof env, "%s/run/cc-admin.env", state);
    if (!strcmp(argv[1], "backup")) {
        if (!stack_running(state) || load_env(env) != 0) {
            fprintf(stderr,
                    "cc-local backup: the stack in %s is not running (start it with "
                    "`make run`; the backup is taken while it runs)\n",
                    state);
            return 1;
        }
        return run_admin(args);
    }
    if (stack_running(state)) {
        fprintf(stderr, "cc-local restore: the stack in %s is running; stop it (Ctrl-C) first\n",
                state);
        return 1;
    }
    /* --with-secrets: the archive's passwords and keys go in first, so the
     * servers made below start with them (a stack made with its own would
     * not open with the archive's afterwards). Only into a new stack. */
    bool with_secrets = false;
    for (int i = 2; i < n; i++)
        with_secrets |= !strcmp(args[i], "--with-secrets") ||
                        !strcmp(args[i], "--with-secrets=true");
    if (with_secrets) {
        char pgv[PATH_MAX], sdir[PATH_MAX + 16], *pre[64];
        snprintf(pgv, sizeof pgv, "%s/pg/data/PG_VERSION", state);
        if (access(pgv, F_OK) == 0) {
            fprintf(stderr,
                    "cc-local restore: --with-secrets needs a new state folder: %s already has "
                    "servers made with its own passwords\n",
                    state);
            return 1;
        }
        snprintf(sdir, sizeof sdir, "--secrets-dir=%s/secrets", state);
        int k = 0;
        for (int i = 0; i < n && k < 60; i++)
            pre[k++] = args[i];
        pre[k++] = "--secrets-only";
        pre[k++] = sdir;
        pre[k] = NULL;
        if (mkdir(state, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "cc-local restore: %s: %s\n", state, strerror(errno));
            return 1;
        }
        if (run_admin(pre) != 0)
            return 1;
    }
    static cc_local_stack stack;
    static const char *const pg_services[] = {
        "cc_user",  "cc_problem", "cc_submission", "cc_notification", "cc_contest",
        "cc_stats", NULL};
    cc_local_options o = {.what = CC_LOCAL_ALL,
                          .pg_services = pg_services,
                          .dir = state,
                          .durable = true,
                          .grant_search = true};
    if (cc_local_stack_start_with(&stack, &o) != CC_OK) {
        fprintf(stderr, "cc-local restore: %s\n", cc_err_msg());
        return 1;
    }
    cc_local_guard(&stack);
    int rc = cc_local_admin_write_env(&stack) == 0 && load_env(env) == 0 ? run_admin(args) : 1;
    unlink(env);
    if (cc_local_stack_stop(&stack) != CC_OK) {
        fprintf(stderr, "cc-local restore: stopping servers: %s\n", cc_err_msg());
        rc = rc ? rc : 1;
    }
    return rc;
}
