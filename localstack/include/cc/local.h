/* cclocal: real NATS (JetStream), PostgreSQL 15 and Redis 7 servers on
 * 127.0.0.1, on free ports, in one folder, stopped by pid.
 *
 * Two users: every integration test (a temporary folder per stack, removed
 * at stop, so test runs proceed side by side) and the `make run` supervisor
 * cc-local (a persistent folder, .state/, whose data stays for the next
 * start).
 *
 * Every child runs in its own process group with stdout and stderr appended
 * to DIR/logs/NAME.log and its pid in DIR/run/NAME.pid. Children get
 * PR_SET_PDEATHSIG(SIGKILL), so they die with the thread that started them:
 * start and stop a stack from a thread that outlives it (normally main).
 *
 * Not thread-safe: one thread drives one stack. Functions return cc_status
 * and set cc_err_set() with the reason (and the log tail of a server that
 * failed to start). */
#ifndef CC_LOCAL_H
#define CC_LOCAL_H

#include "cc/status.h"

#include <limits.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Which servers: a bit mask for start, restart, crash and poll. */
enum {
    CC_LOCAL_NATS = 1u << 0,
    CC_LOCAL_PG = 1u << 1,
    CC_LOCAL_REDIS = 1u << 2,
    CC_LOCAL_ALL = CC_LOCAL_NATS | CC_LOCAL_PG | CC_LOCAL_REDIS,
};

/* Limits of the fixed-size fields below; fixed sizes keep the stack a plain
 * value with nothing to free but the servers themselves. */
#define CC_LOCAL_MAX_SERVICES 16
#define CC_LOCAL_NAME_MAX 64 /* PostgreSQL identifiers are at most 63 bytes */
#define CC_LOCAL_CONNINFO_MAX 512
/* A NATS cluster has three servers: JetStream keeps a stream of 3 replicas
 * available while one is down, and needs a majority (2) to accept. */
#define CC_LOCAL_NATS_MAX 3

/* ---- processes ---------------------------------------------------------- */

/* One child process that leads its own process group. The caller owns the
 * struct; zero it before the first spawn. */
typedef struct cc_local_proc {
    char name[CC_LOCAL_NAME_MAX]; /* for messages, e.g. "nats" or "cc-user" */
    pid_t pid;                    /* group leader; 0 when not running */
    int status;                   /* waitpid() status of the last exit, -1 if none */
} cc_local_proc;

/* What to run. Every pointer is borrowed for the duration of the call. */
typedef struct cc_local_spawn_opts {
    const char *name;        /* copied into proc->name */
    const char *path;        /* absolute path of the executable */
    const char *const *argv; /* NULL-terminated, argv[0] included */
    const char *const *envp; /* NULL-terminated; NULL inherits environ */
    const char *log_path;    /* stdout+stderr appended here; NULL: /dev/null */
    const char *cwd;         /* NULL: inherit */
    const char *pid_path;    /* NULL: no pidfile; else the pid is written here */
    bool as_user;            /* drop to uid/gid (and no supplementary groups) */
    uid_t uid;
    gid_t gid;
} cc_local_spawn_opts;

/* Forks and execs o->path in a new session (so its own process group), with
 * stdin from /dev/null and PDEATHSIG set. On CC_OK p->pid is the child. A
 * failed exec (missing binary...) is reported here as CC_SYS, through a
 * close-on-exec pipe, with a line in the log; the child is reaped. */
cc_status cc_local_spawn(cc_local_proc *p, const cc_local_spawn_opts *o);

/* Sends sig to p's leader, waits up to timeout_ms for it to exit, then sends
 * SIGKILL; finally SIGKILLs what is left of its process group and reaps the
 * leader. p->pid becomes 0. A process that is not running is CC_OK. */
cc_status cc_local_proc_stop(cc_local_proc *p, int sig, int timeout_ms);

/* kill -9 of the whole process group, then reaps: a crash, for tests. */
cc_status cc_local_proc_kill(cc_local_proc *p);

/* Reaps p without blocking. Returns true (and sets p->pid = 0, p->status)
 * if it has exited; false while it runs or if it was not running. */
bool cc_local_proc_poll(cc_local_proc *p);

/* True while pid exists and is not a zombie. */
bool cc_local_pid_alive(pid_t pid);

/* True while any non-zombie process is in process group pgid (scans /proc:
 * killpg(pgid, 0) also counts zombies that init has not reaped yet). */
bool cc_local_group_alive(pid_t pgid);

/* ---- small pure helpers (unit-tested) ----------------------------------- */

/* A port free on 127.0.0.1, picked at random below the kernel's ephemeral
 * range (where outgoing connections cannot take it), never the same twice
 * in one process; bind(0)'s choice if none is found. The port is free at
 * return, not reserved: starters retry. */
cc_status cc_local_free_port(uint16_t *port);

/* True if name is a usable service name: [a-z_][a-z0-9_]*, at most 63 bytes,
 * so it is a PostgreSQL identifier that needs no quoting. */
bool cc_local_service_name_ok(const char *name);

/* Writes a libpq key=value conninfo for host/port/dbname/user and, if not
 * NULL, password into buf (size n). Values are quoted as libpq requires when
 * they hold spaces, quotes or backslashes. CC_LIMIT if it does not fit. */
cc_status cc_local_conninfo(char *buf, size_t n, const char *host, uint16_t port,
                            const char *dbname, const char *user, const char *password);

/* Fills buf (at least 2*nbytes+1 bytes) with nbytes random bytes in hex
 * (from getrandom): generated passwords. */
cc_status cc_local_random_hex(char *buf, size_t nbytes);

/* Appends " key=value" to the conninfo in buf (size n), quoted as
 * cc_local_conninfo quotes. CC_LIMIT if it does not fit (buf unchanged). */
cc_status cc_local_conninfo_add(char *buf, size_t n, const char *key, const char *value);

/* Removes path and everything under it without following symlinks;
 * a path that does not exist is CC_OK. */
cc_status cc_local_rmtree(const char *path);

/* ---- the stack ---------------------------------------------------------- */

/* How to start a stack. Every pointer is borrowed for the start call. */
typedef struct cc_local_options {
    unsigned what;                  /* CC_LOCAL_* mask */
    const char *const *pg_services; /* NULL-terminated service names, or NULL */
    const char *dir;                /* NULL: mkdtemp under $TMPDIR (or /tmp),
                                       removed by stop; else created if missing
                                       and kept */
    bool durable;                   /* fsync on, Redis AOF: for make run; off
                                       (fast, nothing durable) for tests */
    bool grant_search;              /* if the postgres user cannot reach dir,
                                       add o+x to the ancestors that block it
                                       (e.g. a checkout under /root) instead of
                                       failing */
    int timeout_ms;                 /* readiness wait per server; 0: 60000 */
    int nats_servers;               /* 0 or 1: one nats-server; 3: a JetStream
                                       cluster of three on loopback (routes with
                                       their own user, one store folder each) */
    int nats_sync;                  /* CC_LOCAL_SYNC_*: whether every write of
                                       the JetStream store reaches the disk before
                                       the server acks it */
    int tls;                        /* CC_LOCAL_TLS_*: TLS for NATS (clients and
                                       routes) and PostgreSQL */
} cc_local_options;

/* TLS is on unless asked off: a stack's servers present certificates of
 * its own CA (DIR/secrets/ca.crt), nats-server takes TLS clients only and
 * PostgreSQL hostssl connections only; the URLs and conninfos the stack
 * gives out verify the server against that CA (sslmode=verify-full).
 * DEFAULT is on, or off when the environment has CC_TLS=0: cleartext stays
 * one setting away, for comparison and for old clients. */
enum {
    CC_LOCAL_TLS_DEFAULT = 0,
    CC_LOCAL_TLS_ON = 1,
    CC_LOCAL_TLS_OFF = 2,
};

/* nats-server 2.9 syncs its file store every 2 minutes (its only setting,
 * sync_interval, came in 2.10): a machine that loses power loses the writes
 * it acknowledged meanwhile (Jepsen, NATS 2.12.1). So the store folder gets
 * the synchronous-updates attribute (chattr +S, FS_SYNC_FL, inherited by
 * every file made in it): each write() returns once on disk, as with
 * O_SYNC. Cost: docs/benchmarks.md. A filesystem without the attribute
 * (tmpfs) is noted on stderr and runs as before. */
enum {
    CC_LOCAL_SYNC_DEFAULT = 0, /* ALWAYS for a durable stack, INTERVAL for tests */
    CC_LOCAL_SYNC_ALWAYS = 1,
    CC_LOCAL_SYNC_INTERVAL = 2, /* nats-server's own: every 2 minutes */
};

/* One PostgreSQL service: its own role and database, same name. */
typedef struct cc_local_pg_service {
    char name[CC_LOCAL_NAME_MAX];
    char password[CC_LOCAL_NAME_MAX];     /* generated, saved in DIR/secrets */
    char conninfo[CC_LOCAL_CONNINFO_MAX]; /* libpq conninfo as that role */
} cc_local_pg_service;

/* One NATS user of the mesh (cc/mesh.h): every service's own, and the
 * admin, which may do anything (tests that play any part, the operator's
 * nats CLI). */
typedef struct cc_local_nats_user {
    char service[CC_LOCAL_NAME_MAX];  /* "user", or "admin" */
    char user[CC_LOCAL_NAME_MAX];     /* "cc-user" */
    char password[CC_LOCAL_NAME_MAX]; /* generated, saved in DIR/secrets */
    /* "nats://cc-user:PASSWORD@127.0.0.1:PORT", one per server of a
     * cluster, comma-separated (nats.c takes the list) */
    char url[CC_LOCAL_NATS_MAX * 112];
} cc_local_nats_user;

/* A running set of servers. The caller owns the struct (usually static or on
 * the test's stack); start fills it, stop empties it. Every field is
 * read-only for the caller. Ports stay the same across restarts. */
typedef struct cc_local_stack {
    unsigned what; /* servers this stack was started with */
    bool durable;
    bool owns_dir; /* dir is temporary: stop removes it */
    int timeout_ms;
    char dir[PATH_MAX];
    /* TLS (CC_LOCAL_TLS_*): the CA every client of this stack must trust,
     * DIR/secrets/ca.crt; "" when the stack runs in cleartext. */
    bool tls;
    char tls_ca[PATH_MAX];

    cc_local_proc nats;
    uint16_t nats_port;
    uint16_t nats_monitor_port; /* HTTP monitor: /healthz, /varz */
    /* "nats://127.0.0.1:PORT" (a comma-separated list in a cluster),
     * without credentials: the server takes no client without a user of
     * the mesh, so connect with cc_local_nats_url(s, service) or a user's
     * name and password. */
    char nats_url[CC_LOCAL_NATS_MAX * 32];
    /* A cluster: server 0 is nats/nats_port/nats_monitor_port above,
     * servers 1 and 2 are here. Server i is named "cclocal-<i>" (the
     * stream leader's name in JetStream's answers), logs to
     * logs/nats-<i>.log (server 0: nats.log) and stores in
     * nats/<i>/jetstream. Alone: nats_servers == 1, store nats/jetstream. */
    int nats_servers;
    bool nats_sync; /* the store folders are synchronous (CC_LOCAL_SYNC_ALWAYS) */
    cc_local_proc nats_peer[CC_LOCAL_NATS_MAX - 1];
    uint16_t nats_peer_port[CC_LOCAL_NATS_MAX - 1];
    uint16_t nats_peer_monitor_port[CC_LOCAL_NATS_MAX - 1];
    uint16_t nats_cluster_port[CC_LOCAL_NATS_MAX]; /* routes between the servers */
    size_t nats_nusers;
    cc_local_nats_user nats_users[CC_LOCAL_MAX_SERVICES];

    cc_local_proc pg; /* the postmaster, run as user postgres */
    uint16_t pg_port;
    char pg_password[CC_LOCAL_NAME_MAX];           /* of superuser "postgres" */
    char pg_super_conninfo[CC_LOCAL_CONNINFO_MAX]; /* superuser, db "postgres" */
    size_t pg_nservices;
    cc_local_pg_service pg_services[CC_LOCAL_MAX_SERVICES];

    cc_local_proc redis;
    uint16_t redis_port;
    char redis_host[16]; /* "127.0.0.1" */
    char redis_url[64];  /* "redis://127.0.0.1:PORT" */
} cc_local_stack;

/* Test helper: starts `what` in a fresh temporary folder with fast,
 * non-durable settings and, if pg is among them, a role and database per
 * name in pg_services (NULL-terminated, may be NULL). On failure everything
 * already started is stopped and the folder removed. */
cc_status cc_local_stack_start(cc_local_stack *s, unsigned what, const char *const *pg_services);

/* The general start (cc-local uses it with dir = .state, durable = true).
 * On success it sets CC_NATS_CA in this process's environment to the
 * stack's CA (unsets it in cleartext): the processes a test or benchmark
 * starts next trust this stack's NATS as make run's actors do (the last
 * stack started wins).
 * Idempotent on an existing folder: reuses the PostgreSQL cluster, roles,
 * passwords, JetStream store and Redis AOF, and first stops any server a
 * crashed previous run left behind (found by its pidfile). Both starts
 * make DIR/secrets/master.key once (the master key of encryption at rest)
 * and set CC_MASTER_KEY_FILE to it in this process's environment, so every
 * actor started afterwards reads it. */
cc_status cc_local_stack_start_with(cc_local_stack *s, const cc_local_options *o);

/* Stops every running server (SIGTERM / PostgreSQL fast shutdown, then
 * SIGKILL after a timeout), reaps them, and removes a temporary folder
 * (kept if the environment has CC_LOCAL_KEEP=1, to read the logs). Also
 * unguards s. Safe to call twice and on a zeroed struct. Returns the first
 * error met. */
cc_status cc_local_stack_stop(cc_local_stack *s);

/* Graceful stop then start again on the same ports and folder. */
cc_status cc_local_stack_restart(cc_local_stack *s, unsigned which);

/* One server of the NATS cluster (0 <= i < s->nats_servers; i = 0 alone):
 * its process, client port and store folder ("DIR/nats/<i>", where
 * JetStream keeps "jetstream/"), and a graceful stop, a kill -9 or a start
 * of that server alone, on its port with its store as it is (a test may
 * delete the store while the server is down: it catches up from the
 * others). The start waits until it answers and, in a cluster, until its
 * /healthz says JetStream is current. NULL / 0 / CC_INVALID for a bad i. */
cc_local_proc *cc_local_nats_proc(cc_local_stack *s, int i);
uint16_t cc_local_nats_port(const cc_local_stack *s, int i);
const char *cc_local_nats_store(const cc_local_stack *s, int i, char *buf, size_t n);
cc_status cc_local_nats_stop(cc_local_stack *s, int i);
cc_status cc_local_nats_crash(cc_local_stack *s, int i);
cc_status cc_local_nats_start(cc_local_stack *s, int i);

/* Stops (gracefully) or starts the servers in which, on their ports. */
cc_status cc_local_stack_stop_some(cc_local_stack *s, unsigned which);
cc_status cc_local_stack_start_some(cc_local_stack *s, unsigned which);

/* kill -9 of the servers in which (the whole process group); they stay down
 * until cc_local_stack_start_some or _restart. */
cc_status cc_local_stack_crash(cc_local_stack *s, unsigned which);

/* Reaps without blocking; returns the mask of servers that exited since
 * they were started (their proc.status says how). For supervisors. */
unsigned cc_local_stack_poll(cc_local_stack *s);

/* The secret DIR/secrets/NAME.pw (16 random bytes in hex), made on first
 * use so a restart of make run keeps the same credentials; copied into out
 * (n bytes, at least 33). */
cc_status cc_local_secret(cc_local_stack *s, const char *name, char *out, size_t n);

/* The NATS user of service (a row of cc/mesh.h's table: "user", "judge",
 * ... or CC_MESH_ADMIN, "admin"), or NULL if the table has none or the
 * stack runs no NATS. Owned by s. */
const cc_local_nats_user *cc_local_nats_user_of(const cc_local_stack *s, const char *service);

/* That user's URL, with its name and password in it (nats.c reads them
 * from there): what a test passes as an actor's --nats-url, or connects
 * with. NULL as above. Owned by s. */
const char *cc_local_nats_url(const cc_local_stack *s, const char *service);

/* nats.c options for url (one URL or a cluster's comma-separated list)
 * that, when the stack runs TLS, require TLS and trust the stack's CA
 * only: for a test's own connections, with or without a user (a test of
 * refused credentials must fail on the credentials, not on TLS). The
 * caller destroys *o. nats.c's status. */
natsStatus cc_local_nats_options(const cc_local_stack *s, const char *url, natsOptions **o);

/* Connects nc as that user (cc_local_nats_url) with cc_local_nats_options:
 * what a test uses for its own connections. nats.c's status (NATS_OK, or
 * why not). */
natsStatus cc_local_nats_connect(const cc_local_stack *s, const char *service,
                                 natsConnection **nc);
/* The same with any URL (or list): another user, a wrong password, none. */
natsStatus cc_local_nats_connect_url(const cc_local_stack *s, const char *url,
                                     natsConnection **nc);

/* ---- TLS (tls.c) -------------------------------------------------------- */

/* Makes a CA (P-256 key, self-signed, 10 years) into crt_path / key_path
 * (0600) unless both already exist: a folder keeps its CA. */
cc_status cc_local_tls_ca(const char *crt_path, const char *key_path, const char *cn);

/* Issues a server certificate named cn, valid for 127.0.0.1 and localhost,
 * for server and client use, signed by the CA at ca_crt / ca_key, into
 * crt_path / key_path (0600), replacing what was there. */
cc_status cc_local_tls_cert(const char *ca_crt, const char *ca_key, const char *cn,
                            const char *crt_path, const char *key_path);

/* Returns the conninfo of service name, or NULL if it has none. The string
 * is owned by s. */
const char *cc_local_pg_conninfo(const cc_local_stack *s, const char *name);

/* Registers s so that it is stopped at exit() and, by SIGKILL of its
 * servers and removal of its temporary folder, on SIGINT, SIGTERM, SIGABRT
 * and SIGSEGV before the signal is re-raised: a failed test never leaves
 * servers running. At most 8 stacks; s must stay valid until
 * cc_local_unguard(s) or exit. */
cc_status cc_local_guard(cc_local_stack *s);
void cc_local_unguard(cc_local_stack *s);

#endif
