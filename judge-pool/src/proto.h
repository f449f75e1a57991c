/* The wire protocol between cc-judge (the host side) and cc-judge-runner
 * (the trusted process inside the bubblewrap box). Both ends are built from
 * this header in the same build, so the layout is a plain C struct; the
 * magic number catches a runner from another build being mounted by
 * mistake. Messages travel over a SOCK_SEQPACKET socketpair, so one send is
 * one message and file descriptors ride along with SCM_RIGHTS. */
#ifndef JUDGE_PROTO_H
#define JUDGE_PROTO_H

#include <stdint.h>

#define RP_MAGIC 0x43434a52u /* "CCJR" */
/* A request carries argv and env strings; 64 KiB is far above any command
 * line the language table produces, and bounds what the runner allocates. */
#define RP_MAX_MSG 65536
/* Descriptors handed to one run: stdin, stdout, stderr and up to five more
 * (a validator gets the input and answer files as fds 3 and 4). */
#define RP_MAX_FDS 8
/* Feedback files the runner reads back for a validator are capped so a
 * hostile validator cannot make the reply unbounded. */
#define RP_FEEDBACK_CAP 4096

enum rp_op {
    RP_OP_RUN = 1,     /* start one program, reply when it has ended */
    RP_OP_KILL = 2,    /* kill the program of RUN number seq now; never answered */
    RP_OP_PREPARE = 3, /* unpack the source archive (fd 0) into /box */
    RP_OP_SEAL = 4,    /* remount /box read-only once compilation is done */
    RP_OP_EXIT = 5,    /* leave; bwrap then tears the namespaces down */
};

enum rp_flag {
    RP_F_RESET_TMP = 1u << 0,  /* give the run a fresh, empty /tmp */
    RP_F_FEEDBACK = 1u << 1,   /* fresh /feedback before, read its files after */
    RP_F_OOM_FIRST = 1u << 2,  /* make the program the OOM killer's first choice */
    RP_F_NO_SECCOMP = 1u << 3, /* only for the benchmark's "bare inside" figure */
    RP_F_TREE_CPU = 1u << 4,   /* no cgroup: the runner counts the CPU time of every
                                  process of the run and enforces cpu_ms on their sum */
    RP_F_NO_AUTOREAP = 1u << 5, /* with RP_F_TREE_CPU: a submission's test, whose
                                   processes may not ignore SIGCHLD (see runner.c) */
    RP_F_KEEP_FEEDBACK = 1u << 7, /* with RP_F_FEEDBACK: keep /feedback from the last run
                                     (a multi-pass validator's state), less nextpass.in */
    RP_F_NEXTPASS = 1u << 6,    /* with RP_F_FEEDBACK: the last fd is not the program's
                                   but where the runner copies feedback/nextpass.in
                                   (a multi-pass validator's next input) */
};

/* The source archive: records of one rp_file header, the path bytes (no
 * NUL) and the file bytes, back to back. Paths are relative, without "."
 * or ".." components; the runner refuses anything else. */
struct rp_file {
    uint32_t path_len;
    uint32_t mode;  /* 0755 or 0644 */
    uint64_t size;
};
#define RP_ARCHIVE_MAX (64u << 20)

/* Every request carries a sequence number that its reply repeats. A KILL
 * names the RUN it is meant for: the host decides to kill from the CPU
 * time it reads, and the run may have ended and been answered in the
 * meantime, so a KILL can arrive after its RUN's reply. The runner then
 * drops it silently (a KILL is never answered), and the host drops any
 * reply whose number is not the one it waits for, so a late KILL can
 * neither end the next run nor shift every later reply by one. */
struct rp_req {
    uint32_t magic;
    uint32_t op;
    uint32_t seq;
    uint32_t pad;
    uint32_t flags;
    uint32_t nfds;       /* descriptors attached, become fds 0..nfds-1 */
    uint64_t cpu_ms;     /* RLIMIT_CPU backstop (rounded up to seconds) */
    uint64_t wall_ms;    /* wall-clock watchdog */
    uint64_t as_bytes;   /* RLIMIT_AS, 0 = none (JVM, Go, .NET need none) */
    uint64_t fsize_bytes;/* RLIMIT_FSIZE: output and scratch file cap */
    uint64_t stack_bytes;/* RLIMIT_STACK, 0 = inherit */
    uint64_t nofile;     /* RLIMIT_NOFILE */
    uint64_t nproc;      /* RLIMIT_NPROC, 0 = none (the cgroup counts instead) */
    uint64_t tmp_bytes;  /* size of the fresh /tmp when RP_F_RESET_TMP */
    uint64_t shm_bytes;  /* size of the run's fresh /dev/shm; 0 = none */
    uint32_t argc;
    uint32_t envc;
    uint32_t blob_len;   /* bytes of NUL-terminated strings that follow */
    char cwd[64];
    char blob[];         /* argv[0..argc) then env[0..envc) */
};

enum rp_result_flag {
    RP_R_WALL_TIMEOUT = 1u << 0, /* the watchdog killed it */
    RP_R_KILLED = 1u << 1,       /* the host asked for a kill (CPU over limit) */
    RP_R_EXEC_FAILED = 1u << 2,  /* execve failed; exit_code holds errno */
    RP_R_SETUP_FAILED = 1u << 3, /* the runner could not start the program */
    RP_R_CPU_LIMIT = 1u << 4,    /* RP_F_TREE_CPU: killed when the sum went over cpu_ms */
    RP_R_NEXTPASS = 1u << 5,     /* RP_F_NEXTPASS: the validator wrote nextpass.in */
};

struct rp_reply {
    uint32_t magic;
    uint32_t seq;        /* the request's */
    uint32_t flags;
    uint32_t pad;
    int32_t exit_code;   /* valid when term_signal == 0 */
    int32_t term_signal; /* signal that ended the program, or 0 */
    uint64_t cpu_us;     /* user+system of the program and its reaped children; with
                            RP_F_TREE_CPU of every process of the run */
    uint64_t wall_us;
    uint64_t maxrss_kib;
    uint64_t end_us;     /* CLOCK_MONOTONIC once the runner reaped it (orders two runs) */
    uint32_t err;        /* errno of a setup failure */
    uint32_t score_len;  /* bytes of feedback/score.txt that follow */
    uint32_t judgemsg_len; /* then bytes of feedback/judgemessage.txt */
    uint32_t multiplier_len; /* then bytes of feedback/score_multiplier.txt */
    char data[];
};

#endif
