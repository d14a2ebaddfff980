/* tuibuild-spawn: starts a build's commands, reads their output and reaps them, for the engine.

   Why it exists: on a graph of thousands of short commands, the Python engine spent as long
   blocked in vfork (until each child had exec'd) and in the twenty-odd system calls around each
   child (pipes, epoll, pidfd, waitpid) as in all its own work, and it did both serially, so two
   cores sat half idle. This process does that part on its own, without a GIL, while the engine
   goes on; the engine sends requests and reads batched reports, one pipe each way.

   Frames, both ways: a 16-byte header in native byte order (both ends run on one machine),
       u8 type, 3 bytes of padding, u32 id, u32 arg, u32 length
   then `length` bytes of payload.

   Requests (engine -> helper, on stdin):
     'E' id=env   payload "K=V\0K=V\0...": an environment, registered once, used by many spawns
     'S' id=task  arg=env  payload "limit\0cwd\0extra\0argv0\0argv1\0...": start a command in
                  its own session, in `cwd` (empty: the helper's), with env `arg` plus `extra`
                  ("K=V", replacing that key; may be empty), stdin /dev/null, stdout and stderr to
                  pipes; as soon as fewer than `limit` (decimal; 0: no limit) of the commands
                  started are still running. Requests wait in order of arrival. A command runs
                  until it is reaped and both its pipes are closed (or released).
     'K' id       withdraw a request that has not started yet (answered 'F' with ECANCELED);
                  one that has started is left alone (the engine kills it itself)
     'W' id=pause arg=n  hold reports (at most 10 ms) while more than n requests wait: enough
                  commands are queued to keep the slots busy, so the engine can wake once for
                  several. With pause=1, a command that exits unsuccessfully stops queued ones
                  from starting until the next 'G' or 'S' (fail-fast: the engine withdraws them
                  before it asks for anything new)
     'G'          start queued requests again after such a pause
     'R' id       release a command's pipes (the engine stopped reading: something the command
                  left running holds them); it no longer counts against any limit
   Reports (helper -> engine, on stdout):
     'H'     arg=PROTOCOL     first, at once: which protocol this binary speaks
     'P' id  arg=pid          started (the 'X' of a command that freed its place comes first)
     'F' id  arg=errno        could not start; payload "c" (the working directory) or "x" (exec)
     'O' id  arg=1|2          output from stdout (1) or stderr (2)
     'C' id                   both pipes reached EOF (every 'O' of the task came before)
     'X' id  arg=wait status  reaped
   At EOF on stdin the helper SIGKILLs the process group of every child it has not reaped (the
   engine is gone or done) and exits. It ignores the terminal's signals: the engine decides.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL 1 /* runners/native.py checks it: a stale binary is not used */
#define HEADER 16
#define READ_SIZE (256 * 1024)
#define OUT_CAP (512 * 1024)
#define DEFAULT_PIPE (1 << 16)
#define BIG_PIPE (1 << 20)
#define MAX_EVENTS 64
#define HOLD 0.010 /* seconds a report may wait to be sent with others */

struct header {
    uint8_t type;
    uint8_t pad[3];
    uint32_t id;
    uint32_t arg;
    uint32_t length;
};

struct env {
    uint32_t id;
    char *block;
    char **vars;
    size_t count;
    const char *path; /* the value of PATH in this environment, or NULL */
    struct env *next;
};

struct task;
struct end {
    struct task *task;
    int stream; /* 1 or 2 */
    int fd;     /* -1 once at EOF */
    int grown;
};

struct task {
    uint32_t id;
    pid_t pid;
    int open; /* pipes not yet at EOF */
    int reaped;
    struct end ends[2];
    struct task *next;
};

struct request {
    uint32_t id;
    uint32_t env;
    unsigned long limit;
    uint32_t length;
    char *payload; /* cwd\0extra\0argv... */
    struct request *next;
};

static int epfd;
static struct request *queue_head, *queue_tail;
static unsigned long queued;
static unsigned long live; /* commands started and not yet reaped-and-closed */
static unsigned long low_water; /* reports are sent at once when no more requests wait */
static int pause_on_failure, paused;
static struct env *envs;
static struct task *tasks;
static char read_buf[READ_SIZE];
static char out_buf[OUT_CAP];
static size_t out_len;
static sigset_t blocked;
static const int ignored[] = {SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGPIPE, SIGXFSZ};
static char stdin_mark, signal_mark;

/* Written by the vfork child, read by the parent once it resumes (they share memory). */
static volatile int child_errno;
static volatile char child_stage;

static void die(const char *what) {
    fprintf(stderr, "tuibuild-spawn: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *must(void *p) {
    if (p == NULL) die("out of memory");
    return p;
}

static void kill_all_and_exit(int code) {
    for (struct task *t = tasks; t != NULL; t = t->next)
        if (!t->reaped && t->pid > 0) kill(-t->pid, SIGKILL);
    exit(code);
}

static void write_all(const char *data, size_t size) {
    while (size > 0) {
        ssize_t n = write(1, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            kill_all_and_exit(1); /* the engine is gone */
        }
        data += n;
        size -= (size_t)n;
    }
}

static void flush(void) {
    write_all(out_buf, out_len);
    out_len = 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void report(char type, uint32_t id, uint32_t arg, const char *data, uint32_t length) {
    struct header h = {(uint8_t)type, {0, 0, 0}, id, arg, length};
    if (out_len + HEADER + length > OUT_CAP) flush();
    if (HEADER + length > OUT_CAP) { /* too big to batch: header, then the data as it is */
        write_all((const char *)&h, HEADER);
        write_all(data, length);
        return;
    }
    memcpy(out_buf + out_len, &h, HEADER);
    if (length) memcpy(out_buf + out_len + HEADER, data, length);
    out_len += HEADER + length;
}

/* Unlinked now, freed after the current batch of events (which may still name its pipes). */
static struct task *dead;

static void free_task(struct task *gone) {
    for (struct task **p = &tasks; *p != NULL; p = &(*p)->next)
        if (*p == gone) {
            *p = gone->next;
            gone->next = dead;
            dead = gone;
            live--;
            return;
        }
}

static void bury(void) {
    while (dead != NULL) {
        struct task *t = dead;
        dead = t->next;
        free(t);
    }
}

static void add_env(uint32_t id, char *block, uint32_t length) {
    struct env *e = must(calloc(1, sizeof *e));
    e->id = id;
    e->block = block;
    for (uint32_t i = 0; i < length; i++)
        if (block[i] == '\0') e->count++;
    e->vars = must(calloc(e->count + 1, sizeof *e->vars));
    char *p = block;
    for (size_t i = 0; i < e->count; i++) {
        e->vars[i] = p;
        if (strncmp(p, "PATH=", 5) == 0) e->path = p + 5;
        p += strlen(p) + 1;
    }
    e->next = envs;
    envs = e;
}

static struct env *find_env(uint32_t id) {
    for (struct env *e = envs; e != NULL; e = e->next)
        if (e->id == id) return e;
    return NULL;
}

static int key_length(const char *var) {
    const char *eq = strchr(var, '=');
    return eq ? (int)(eq - var) : (int)strlen(var);
}

/* The paths to try for `program`, as Python's subprocess tries them: as given when it holds a
   slash, else in each folder of PATH (the child's PATH, not ours), "/bin:/usr/bin" by default. */
static char **candidates(const char *program, const char *path) {
    if (strchr(program, '/') != NULL) {
        char **list = must(calloc(2, sizeof *list));
        list[0] = must(strdup(program));
        return list;
    }
    if (path == NULL) path = "/bin:/usr/bin";
    size_t count = 1;
    for (const char *c = path; *c; c++)
        if (*c == ':') count++;
    char **list = must(calloc(count + 1, sizeof *list));
    size_t n = 0;
    const char *start = path;
    for (;;) {
        const char *stop = strchr(start, ':');
        size_t dir = stop ? (size_t)(stop - start) : strlen(start);
        char *full = must(malloc(dir + strlen(program) + 2));
        if (dir == 0) {
            strcpy(full, program);
        } else {
            memcpy(full, start, dir);
            full[dir] = '/';
            strcpy(full + dir + 1, program);
        }
        list[n++] = full;
        if (stop == NULL) break;
        start = stop + 1;
    }
    return list;
}

static void spawn(uint32_t id, uint32_t env_id, char *payload, uint32_t length) {
    /* payload: cwd \0 extra \0 argv0 \0 ... (the engine guarantees the final \0) */
    char *cwd = payload;
    char *extra = cwd + strlen(cwd) + 1;
    char *arg0 = extra + strlen(extra) + 1;
    size_t argc = 0;
    for (char *p = arg0; p < payload + length; p += strlen(p) + 1) argc++;
    struct env *env = find_env(env_id);
    if (argc == 0 || env == NULL) {
        report('F', id, EINVAL, "x", 1);
        return;
    }
    char **argv = must(calloc(argc + 1, sizeof *argv));
    char *p = arg0;
    for (size_t i = 0; i < argc; i++, p += strlen(p) + 1) argv[i] = p;

    char **envp = must(calloc(env->count + 2, sizeof *envp));
    size_t n = 0;
    const char *path = env->path;
    int extra_key = key_length(extra);
    if (*extra) {
        envp[n++] = extra;
        if (extra_key == 4 && strncmp(extra, "PATH", 4) == 0) path = extra + 5;
    }
    for (size_t i = 0; i < env->count; i++) {
        const char *var = env->vars[i];
        if (*extra && key_length(var) == extra_key && strncmp(var, extra, extra_key) == 0)
            continue;
        envp[n++] = env->vars[i];
    }
    char **paths = candidates(argv[0], path);

    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (out[i] >= 0) close(out[i]);
            if (err[i] >= 0) close(err[i]);
        }
        report('F', id, (uint32_t)e, "x", 1);
        goto done;
    }
    child_errno = 0;
    child_stage = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        /* The child, on the parent's memory until it execs: system calls only. */
        sigset_t none;
        sigemptyset(&none);
        for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) signal(ignored[i], SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        if (*cwd && chdir(cwd) < 0) {
            child_errno = errno;
            child_stage = 'c';
            _exit(127);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) {
            child_errno = errno;
            child_stage = 'x';
            _exit(127);
        }
        if (null > 2) close(null);
        int saved = 0;
        for (char **c = paths; *c != NULL; c++) {
            execve(*c, argv, envp);
            if (errno != ENOENT && errno != ENOTDIR && saved == 0) saved = errno;
        }
        child_errno = saved ? saved : errno;
        child_stage = 'x';
        _exit(127);
    }
    int spawn_errno = errno;
    close(out[1]);
    close(err[1]);
    if (pid < 0 || child_stage) {
        if (pid > 0) {
            int status;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
        close(out[0]);
        close(err[0]);
        char stage = pid < 0 ? 'x' : child_stage;
        report('F', id, (uint32_t)(pid < 0 ? spawn_errno : child_errno), &stage, 1);
        goto done;
    }
    struct task *t = must(calloc(1, sizeof *t));
    t->id = id;
    t->pid = pid;
    t->open = 2;
    int fds[2] = {out[0], err[0]};
    for (int i = 0; i < 2; i++) {
        struct end *e = &t->ends[i];
        e->task = t;
        e->stream = i + 1;
        e->fd = fds[i];
        fcntl(e->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = e};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, e->fd, &ev) < 0) die("epoll_ctl");
    }
    t->next = tasks;
    tasks = t;
    live++;
    report('P', id, (uint32_t)pid, NULL, 0);
done:
    for (char **c = paths; *c != NULL; c++) free(*c);
    free(paths);
    free(envp);
    free(argv);
}

/* Start the requests at the head of the queue while their limit allows. */
static void start_queued(void) {
    while (!paused && queue_head != NULL &&
           (queue_head->limit == 0 || live < queue_head->limit)) {
        struct request *r = queue_head;
        queue_head = r->next;
        if (queue_head == NULL) queue_tail = NULL;
        queued--;
        spawn(r->id, r->env, r->payload, r->length);
        free(r->payload);
        free(r);
    }
}

static void enqueue(uint32_t id, uint32_t env, char *payload, uint32_t length) {
    char *end;
    unsigned long limit = strtoul(payload, &end, 10);
    if (*end != '\0') {
        report('F', id, EINVAL, "x", 1);
        return;
    }
    uint32_t skip = (uint32_t)(end - payload) + 1;
    struct request *r = must(calloc(1, sizeof *r));
    r->id = id;
    r->env = env;
    r->limit = limit;
    r->length = length - skip;
    r->payload = must(malloc(r->length));
    memcpy(r->payload, payload + skip, r->length);
    if (queue_tail != NULL)
        queue_tail->next = r;
    else
        queue_head = r;
    queue_tail = r;
    queued++;
}

static void withdraw(uint32_t id) {
    struct request *prev = NULL;
    for (struct request *r = queue_head; r != NULL; prev = r, r = r->next)
        if (r->id == id) {
            if (prev != NULL)
                prev->next = r->next;
            else
                queue_head = r->next;
            if (queue_tail == r) queue_tail = prev;
            queued--;
            free(r->payload);
            free(r);
            report('F', id, ECANCELED, "x", 1);
            return;
        }
}

static void close_end(struct end *e) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, e->fd, NULL);
    close(e->fd);
    e->fd = -1;
}

static void release(uint32_t id) {
    for (struct task *t = tasks; t != NULL; t = t->next)
        if (t->id == id) {
            for (int i = 0; i < 2; i++)
                if (t->ends[i].fd >= 0) {
                    close_end(&t->ends[i]);
                    t->open--;
                }
            if (t->reaped) free_task(t);
            return;
        }
}

static void read_output(struct end *e) {
    if (e->fd < 0) return;
    ssize_t n = read(e->fd, read_buf, READ_SIZE);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    struct task *t = e->task;
    if (n <= 0) {
        close_end(e);
        if (--t->open == 0) {
            report('C', t->id, 0, NULL, 0);
            if (t->reaped) free_task(t);
        }
        return;
    }
    if (n >= DEFAULT_PIPE && !e->grown) {
        /* The pipe was full: a chatty child. Fewer, larger reads; quiet tasks never pay. */
        e->grown = 1;
        fcntl(e->fd, F_SETPIPE_SZ, BIG_PIPE);
    }
    report('O', t->id, (uint32_t)e->stream, read_buf, (uint32_t)n);
}

static void reap(int sigfd) {
    struct signalfd_siginfo info[16];
    while (read(sigfd, info, sizeof info) > 0) {
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (struct task *t = tasks; t != NULL; t = t->next)
            if (t->pid == pid && !t->reaped) {
                t->reaped = 1;
                if (pause_on_failure && status != 0) paused = 1;
                report('X', t->id, (uint32_t)status, NULL, 0);
                if (t->open == 0) free_task(t);
                break;
            }
    }
}

static char *req_buf;
static size_t req_len, req_cap;

static void read_requests(void) {
    if (req_cap - req_len < READ_SIZE) {
        req_cap = req_cap ? req_cap * 2 : 2 * READ_SIZE;
        req_buf = must(realloc(req_buf, req_cap));
    }
    ssize_t n = read(0, req_buf + req_len, req_cap - req_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        flush();
        kill_all_and_exit(0);
    }
    req_len += (size_t)n;
    size_t at = 0;
    while (req_len - at >= HEADER) {
        struct header h;
        memcpy(&h, req_buf + at, HEADER);
        if (req_len - at - HEADER < h.length) break;
        char *payload = req_buf + at + HEADER;
        if (h.type == 'E') {
            char *block = must(malloc(h.length + 1));
            memcpy(block, payload, h.length);
            block[h.length] = '\0';
            add_env(h.id, block, h.length);
        } else if (h.type == 'S' && h.length > 0 && payload[h.length - 1] == '\0') {
            enqueue(h.id, h.arg, payload, h.length);
            paused = 0;
        } else if (h.type == 'W') {
            low_water = h.arg;
            pause_on_failure = h.id != 0;
        } else if (h.type == 'G') {
            paused = 0;
        } else if (h.type == 'K') {
            withdraw(h.id);
        } else if (h.type == 'R') {
            release(h.id);
        } else {
            report('F', h.id, EINVAL, "x", 1);
        }
        at += HEADER + h.length;
    }
    memmove(req_buf, req_buf + at, req_len - at);
    req_len -= at;
}

int main(void) {
    /* fds 0-2 must be taken, or a pipe could land on them and be dup2'd over in a child. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0) die("open /dev/null");
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) signal(ignored[i], SIG_IGN);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &blocked, NULL) < 0) die("sigprocmask");
    int sigfd = signalfd(-1, &blocked, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) die("signalfd");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    fcntl(0, F_SETFD, FD_CLOEXEC);
    fcntl(1, F_SETFD, FD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_mark};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) < 0) die("epoll_ctl stdin");
    ev.data.ptr = &signal_mark;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) < 0) die("epoll_ctl signalfd");
    report('H', 0, PROTOCOL, NULL, 0);
    flush();
    struct epoll_event events[MAX_EVENTS];
    double held_since = 0;
    for (;;) {
        int timeout = -1;
        if (out_len > 0) {
            double left = HOLD - (now() - held_since);
            timeout = left > 0 ? (int)(left * 1000) + 1 : 0;
        }
        int n = epoll_wait(epfd, events, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            void *what = events[i].data.ptr;
            if (what == &stdin_mark) {
                read_requests();
            } else if (what == &signal_mark) {
                reap(sigfd);
            } else {
                read_output(what);
            }
        }
        start_queued();
        /* Reports wait a little while enough commands wait here to keep every slot busy: the
           engine wakes once for several of them instead of once each. */
        if (out_len > 0 && held_since == 0) held_since = now();
        if (out_len > 0 && (queued <= low_water || out_len > OUT_CAP / 8 ||
                            now() - held_since >= HOLD)) {
            flush();
            held_since = 0;
        }
        bury();
    }
}
