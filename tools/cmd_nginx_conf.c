/*
 * cmd_nginx_conf.c: `caravel nginx-conf`: writes the nginx configuration
 * that puts several `caravel serve` processes behind one address, routing
 * each model family to one server (docs/DEPLOY.md explains the deployment).
 *
 * From the map of `caravel families` and the servers' addresses it fills
 * deploy/nginx/caravel.conf.template into DIR/caravel.conf (the http-level
 * part: the model -> family map, the upstreams, the server block; usable
 * alone in /etc/nginx/conf.d/) and deploy/nginx/nginx.conf.template into
 * DIR/nginx.conf (a standalone main configuration that includes it, with
 * its pid, logs and temporary files under DIR). The templates are compiled
 * into the command (CMakeLists.txt), so that it needs no source tree where
 * it runs (the image, the GPU machine's bundle).
 *
 * It also says where each family goes while every server is up, computed
 * as nginx's consistent hash does it (the ketama ring of
 * ngx_http_upstream_hash_module): a summary line per server on stdout, and
 * DIR/placement.tsv (family, models, server). Which server a family gets
 * depends on the servers' addresses only, so with few families two can
 * share a server while another gets none; on one host, --spread-ports
 * chooses the servers' ports so that the families spread as evenly as the
 * ring allows (written to DIR/servers, one HOST:PORT a line).
 *
 * Every value that reaches nginx's configuration is checked first (the
 * map's lines, addresses, durations, the access log's path), so nothing
 * but what it stands for can get into the configuration.
 *
 * What it deliberately does not do: start nginx or the servers, or ask the
 * servers anything (the family keys come from `caravel families`).
 */
#include "cli.h"

#include "core/core.h"
#include "server/codec.h"

/* deploy/nginx/'s templates as byte arrays, written by CMake at configure time. */
#include "nginx_templates.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define CMD "caravel nginx-conf"

/* nginx gives a server 160 points on the ring per unit of weight; the
 * configuration written here gives every server weight 1. */
#define KETAMA_POINTS 160
/* The map's model names, as `caravel families` writes them. */
#define MODEL_NAME_MAX 128
#define FAMILY_KEY_LEN 16
/* --spread-ports HOST:N takes N of up to 3 digits. */
#define SPREAD_MAX_SERVERS 999
/* Random draws for one free port before the range counts as used up. */
#define FRESH_PORT_DRAWS 1000
#define PORT_COUNT 65536

/* Exit statuses: a bad argument or input (as the other commands'), and a
 * run that failed on good input (a folder or file not written, out of
 * memory). */
#define EXIT_BAD_INPUT 2
#define EXIT_RUN_FAILED 1

static void usage(FILE *f)
{
    fprintf(f,
            "usage: caravel nginx-conf --out DIR --families FILE\n"
            "                          (--server HOST:PORT ... | --spread-ports HOST:N)\n"
            "                          [--port-range LOW-HIGH] [--tries N]\n"
            "                          [--listen HOST:PORT|PORT] [--max-fails N]\n"
            "                          [--fail-timeout T] [--connect-timeout T]\n"
            "                          [--read-timeout T] [--access-log PATH|off]\n"
            "                          [--worker-processes N|auto]\n"
            "\n"
            "Writes the nginx configuration that puts several `caravel serve` processes\n"
            "behind one address, routing each model family to one server by a consistent\n"
            "hash of its key (docs/DEPLOY.md):\n"
            "\n"
            "    caravel families --model-repository REPO > families.map\n"
            "    caravel nginx-conf --out DIR --families families.map \\\n"
            "        --server 127.0.0.1:8001 --server 127.0.0.1:8002 --server 127.0.0.1:8003\n"
            "    nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;'\n"
            "\n"
            "DIR/caravel.conf is the http-level part (the model -> family map, the\n"
            "upstreams, the server block; usable alone in /etc/nginx/conf.d/), DIR/nginx.conf\n"
            "a standalone main configuration that includes it, with its pid, logs and\n"
            "temporary files under DIR. DIR/placement.tsv and stdout say which server each\n"
            "family goes to while all are up (nginx's ketama ring: it depends on the\n"
            "servers' addresses only, so two families can share a server while another\n"
            "gets none); DIR/servers lists the servers, one HOST:PORT a line.\n"
            "\n"
            "  --out DIR               folder to write the configuration into (required)\n"
            "  --families FILE         the output of `caravel families` (required)\n"
            "  --server HOST:PORT      a caravel server's protocol address (repeatable, in\n"
            "                          any order: the hash ring depends on the addresses,\n"
            "                          not their order)\n"
            "  --spread-ports HOST:N   instead of --server: N servers on HOST, at free ports\n"
            "                          chosen so that the families spread over them as\n"
            "                          evenly as the ring allows (written to DIR/servers)\n"
            "  --port-range LOW-HIGH   where --spread-ports looks (default 20000-39999)\n"
            "  --tries N               ports --spread-ports tries at most (default 100000)\n"
            "  --listen ADDR           nginx's address (default 127.0.0.1:8080)\n"
            "  --max-fails N           failed attempts within --fail-timeout that take a\n"
            "                          server out (default 1; 0 would turn the passive\n"
            "                          health check off, so it is refused)\n"
            "  --fail-timeout T        how long a failed server is skipped, and the window\n"
            "                          of --max-fails (default 10s)\n"
            "  --connect-timeout T     proxy_connect_timeout (default 2s)\n"
            "  --read-timeout T        proxy_read_timeout (default 60s)\n"
            "  --access-log PATH       access log path (default access.log, under nginx's\n"
            "                          -p prefix), or off\n"
            "  --worker-processes N    nginx worker processes (default 1; or auto)\n"
            "\n"
            "Durations are nginx's: digits, then ms, s or m (10s, 500ms).\n");
}

/* Prints "caravel nginx-conf: MESSAGE" on stderr. */
static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, CMD ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A copy of the first len bytes of s for an error message, each byte that
 * is not printable ASCII shown as '?', so that the message stays one line
 * whatever the input held. */
static const char *printable(const char *s, size_t len, char *buf, size_t size)
{
    size_t n = 0;
    for (; n < len && n + 1 < size; n++) {
        unsigned char c = (unsigned char)s[n];
        buf[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    buf[n] = 0;
    return buf;
}
#define PRINTABLE(s) printable((s), strlen(s), (char[160]){0}, 160)

/* ---- the shapes of the values -------------------------------------------
 * Small explicit checkers in place of regular expressions. The classes are
 * ASCII. White space and line breaks are those of Python's str.isspace and
 * str.splitlines in their ASCII part: the generator this command replaced
 * read the maps so, and a map it took must read the same here. */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static bool is_hex(char c) { return is_lower_hex(c) || (c >= 'A' && c <= 'F'); }
static bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
/* A character of a host name or IPv4 address, and of a model name. */
static bool is_name_char(char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; }
static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }
/* What ends a line (\r\n is one break). */
static bool is_line_break(char c)
{
    return c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e);
}

/* Whether the len bytes at s are between min and max decimal digits. */
static bool digits(const char *s, size_t len, size_t min, size_t max)
{
    if (len < min || len > max) return false;
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i])) return false;
    return true;
}

/* Whether s is HOST:COUNT with COUNT of 1 to max_digits digits: HOST a name
 * or IPv4 address ([A-Za-z0-9_.-]+) or an IPv6 address in brackets. This is
 * the shape of a server's address (COUNT its port) and of --spread-ports.
 * The port's range is left to nginx, which names a bad one itself. */
static bool host_colon_digits(const char *s, size_t max_digits)
{
    const char *colon = strrchr(s, ':');
    if (!colon || !digits(colon + 1, strlen(colon + 1), 1, max_digits)) return false;
    size_t host_len = (size_t)(colon - s);
    if (host_len == 0) return false;
    if (s[0] == '[') {
        if (host_len < 3 || s[host_len - 1] != ']') return false;
        for (size_t i = 1; i + 1 < host_len; i++)
            if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.') return false;
        return true;
    }
    for (size_t i = 0; i < host_len; i++)
        if (!is_name_char(s[i])) return false;
    return true;
}

static bool address_valid(const char *s) { return host_colon_digits(s, 5); }

/* nginx's durations as the options take them: digits, then ms, s or m. */
static bool duration_valid(const char *s)
{
    size_t n = 0;
    while (is_digit(s[n])) n++;
    if (n == 0) return false;
    const char *unit = s + n;
    return !*unit || !strcmp(unit, "ms") || !strcmp(unit, "s") || !strcmp(unit, "m");
}

/* A path nginx reads as one plain argument: nothing that ends or quotes
 * an argument, a directive or a block. */
static bool plain_path(const char *s)
{
    for (; *s; s++)
        if (is_space(*s) || strchr(";{}'\"", *s)) return false;
    return true;
}

/* ---- the family map ----------------------------------------------------- */

typedef struct map_entry {
    char *model;
    char key[FAMILY_KEY_LEN + 1];
} map_entry_t;

typedef struct family_map {
    map_entry_t *entries;
    int count, cap;
} family_map_t;

static void family_map_free(family_map_t *map)
{
    for (int i = 0; i < map->count; i++) cv_free(map->entries[i].model);
    cv_free(map->entries);
}

/* Whether the stripped line (len bytes, not NUL-terminated) is
 * "MODEL<white space>KEY;": MODEL 1 to 128 of [A-Za-z0-9_.-] not starting
 * with '.', KEY 16 lowercase hex digits. Fills the entry (model allocated). */
static bool map_line_parse(const char *line, size_t len, map_entry_t *entry, bool *out_of_memory)
{
    size_t name = 0;
    while (name < len && is_name_char(line[name])) name++;
    if (name == 0 || name > MODEL_NAME_MAX || line[0] == '.') return false;
    size_t key = name;
    while (key < len && is_space(line[key])) key++;
    if (key == name || len - key != FAMILY_KEY_LEN + 1 || line[len - 1] != ';') return false;
    for (size_t i = key; i < key + FAMILY_KEY_LEN; i++)
        if (!is_lower_hex(line[i])) return false;
    entry->model = cv_malloc(name + 1);
    if (!entry->model) {
        *out_of_memory = true;
        return false;
    }
    memcpy(entry->model, line, name);
    entry->model[name] = 0;
    memcpy(entry->key, line + key, FAMILY_KEY_LEN);
    entry->key[FAMILY_KEY_LEN] = 0;
    return true;
}

/* The whole file at path, NUL-terminated (cv_free), or NULL with errno set. */
static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cv_sbuf_t b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) cv_sbuf_append(&b, chunk, n);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno || b.failed) {
        cv_sbuf_free(&b);
        errno = read_errno ? read_errno : ENOMEM;
        return NULL;
    }
    char *text = cv_sbuf_take(&b, len);
    if (!text) errno = ENOMEM;
    return text;
}

/* Reads the `model key;` lines of a `caravel families` map (comments and
 * blank lines skipped), each checked. Returns 0, or the exit status after
 * printing why not. */
static int family_map_read(const char *path, family_map_t *map)
{
    size_t len;
    char *text = read_whole(path, &len);
    if (!text) {
        complain("cannot read the family map %s: %s", PRINTABLE(path), strerror(errno));
        return EXIT_BAD_INPUT;
    }
    int rc = 0, number = 0;
    for (size_t at = 0; at < len;) {
        size_t end = at;
        while (end < len && !is_line_break(text[end])) end++;
        const char *line = text + at;
        size_t line_len = end - at;
        number++;
        at = end + (end < len);
        if (end < len && text[end] == '\r' && at < len && text[at] == '\n') at++;
        while (line_len && is_space(*line)) line++, line_len--;
        while (line_len && is_space(line[line_len - 1])) line_len--;
        if (line_len == 0 || line[0] == '#') continue;
        bool out_of_memory = CV_GROW(map->entries, map->count, map->cap) != CV_STATUS_OK;
        if (!out_of_memory && map_line_parse(line, line_len, &map->entries[map->count], &out_of_memory)) {
            map->count++;
            continue;
        }
        if (out_of_memory) {
            complain("out of memory reading %s", PRINTABLE(path));
            rc = EXIT_RUN_FAILED;
        } else {
            char shown[160];
            complain("%s:%d: not a map line 'MODEL FAMILY_KEY;' from `caravel families`: '%s'", PRINTABLE(path),
                     number, printable(line, line_len, shown, sizeof shown));
            rc = EXIT_BAD_INPUT;
        }
        goto done;
    }
    if (map->count == 0) {
        complain("%s: no models in the family map (did `caravel families` load any?)", PRINTABLE(path));
        rc = EXIT_BAD_INPUT;
    }
done:
    cv_free(text);
    return rc;
}

/* ---- families ------------------------------------------------------------ */

/* One family of the map: its key, the key's point on the ring, how many
 * models the map gives it, and the server (index) it goes to. */
typedef struct family {
    char key[FAMILY_KEY_LEN + 1];
    uint32_t hash;
    int models;
    int owner;
} family_t;

static int compare_keys(const void *a, const void *b)
{
    return strcmp(((const family_t *)a)->key, ((const family_t *)b)->key);
}

static uint32_t crc32_of(const void *bytes, size_t len)
{
    return (uint32_t)crc32(0L, (const Bytef *)bytes, (uInt)len);
}

/* The map's distinct keys in sorted order (placement.tsv's rows), with
 * their models counted; NULL when out of memory. */
static family_t *families_of(const family_map_t *map, int *count)
{
    family_t *all = cv_calloc((size_t)map->count, sizeof(*all));
    if (!all) return NULL;
    for (int i = 0; i < map->count; i++) memcpy(all[i].key, map->entries[i].key, sizeof all[i].key);
    qsort(all, (size_t)map->count, sizeof(*all), compare_keys);
    int n = 0;
    for (int i = 0; i < map->count; i++) {
        if (n > 0 && !strcmp(all[n - 1].key, all[i].key)) {
            all[n - 1].models++;
            continue;
        }
        all[n] = all[i];
        all[n].models = 1;
        all[n].hash = crc32_of(all[n].key, FAMILY_KEY_LEN);
        n++;
    }
    *count = n;
    return all;
}

/* ---- the ketama ring -------------------------------------------------------
 * nginx's consistent hash (ngx_http_upstream_hash_module): each server has
 * 160 points, the crc32 of "HOST\0PORT" followed by the previous point's 4
 * bytes (little-endian), chained from 0; a key goes to the first point at
 * or after crc32(key), wrapping round. nginx sorts every server's points
 * into one ring; here each server keeps its own sorted points, and the
 * server whose first point at or after the key is nearest wins: the same
 * server, and a server's points change alone when its port moves
 * (--spread-ports). Where two servers share a point (a crc32 collision),
 * nginx keeps one of them, whichever its qsort puts first; here the server
 * listed first wins, as the Python generator before this command had it. */

typedef struct ring_server {
    char *address; /* HOST:PORT */
    uint32_t points[KETAMA_POINTS];
} ring_server_t;

static int compare_points(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Fills the sorted points of the server at address (HOST:PORT, checked). */
static void ketama_points(ring_server_t *server)
{
    const char *address = server->address, *colon = strrchr(address, ':');
    /* crc32 continues from a previous value: "HOST\0PORT" once, then each
     * point appends the previous one's bytes to it. */
    uLong base = crc32(0L, (const Bytef *)address, (uInt)(colon - address));
    base = crc32(base, (const Bytef *)"", 1);
    base = crc32(base, (const Bytef *)colon + 1, (uInt)strlen(colon + 1));
    uint32_t prev = 0;
    for (int i = 0; i < KETAMA_POINTS; i++) {
        unsigned char le[4] = {prev & 0xff, (prev >> 8) & 0xff, (prev >> 16) & 0xff, prev >> 24};
        prev = (uint32_t)crc32(base, le, 4);
        server->points[i] = prev;
    }
    qsort(server->points, KETAMA_POINTS, sizeof(uint32_t), compare_points);
}

/* How far round the ring from hash to this server's first point at or
 * after it (wrapping past 2^32 to its lowest point). */
static uint64_t ketama_distance(const ring_server_t *server, uint32_t hash)
{
    int lo = 0, hi = KETAMA_POINTS; /* the first point >= hash is in [lo, hi] */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (server->points[mid] < hash) lo = mid + 1;
        else hi = mid;
    }
    if (lo < KETAMA_POINTS) return server->points[lo] - hash;
    return (uint64_t)server->points[0] + (UINT64_C(1) << 32) - hash;
}

/* The index of the server that hash goes to while all are up. */
static int ketama_owner(const ring_server_t *servers, int nservers, uint32_t hash)
{
    int best = 0;
    uint64_t best_distance = ketama_distance(&servers[0], hash);
    for (int s = 1; s < nservers; s++) {
        uint64_t d = ketama_distance(&servers[s], hash);
        if (d < best_distance) best = s, best_distance = d;
    }
    return best;
}

/* Places every family; counts[s] gets the families of server s. */
static void place(const ring_server_t *servers, int nservers, family_t *families, int nfamilies, int *counts)
{
    for (int s = 0; s < nservers; s++) counts[s] = 0;
    for (int f = 0; f < nfamilies; f++) {
        families[f].owner = ketama_owner(servers, nservers, families[f].hash);
        counts[families[f].owner]++;
    }
}

/* ---- --spread-ports ---------------------------------------------------------
 * N ports on one host, free and in the range, whose ring spreads the
 * families evenly: ceil(F/N) families at most a server, on as few servers
 * as F allows. A local search: from random ports, one server at a time (one
 * of the busiest, or any) moves to a random port, kept unless the spread
 * gets worse, until it is even or --tries moves are spent (then the best
 * found). The ports are then bound for a moment to see that they are free;
 * one that is not is never drawn again, its server moves, and the search
 * goes on. The random state is seeded from the time and the process id, so
 * that runs at once on one host do not race for the same ports. */

/* What the search minimizes: the families of the busiest server, then how
 * many servers carry that many. */
typedef struct spread_score {
    int most, servers_with_most;
} spread_score_t;

static spread_score_t spread_score_of(const int *counts, int nservers)
{
    spread_score_t score = {0, 0};
    for (int s = 0; s < nservers; s++) {
        if (counts[s] > score.most) score = (spread_score_t){counts[s], 0};
        if (counts[s] == score.most) score.servers_with_most++;
    }
    return score;
}

static int spread_score_compare(spread_score_t a, spread_score_t b)
{
    if (a.most != b.most) return a.most < b.most ? -1 : 1;
    return (a.servers_with_most > b.servers_with_most) - (a.servers_with_most < b.servers_with_most);
}

typedef struct spread {
    char *host; /* as given: an IPv6 address in brackets */
    int nservers;
    long low, high, tries;
    unsigned short random_state[3]; /* erand48's */
    bool unusable[PORT_COUNT];      /* --listen's port, and ports found bound */
    int *ports;                     /* a server's port */
    ring_server_t *servers;
} spread_t;

/* A random integer in [0, n). */
static long random_below(spread_t *sp, long n)
{
    long r = (long)(erand48(sp->random_state) * (double)n);
    return r < n ? r : n - 1;
}

/* Moves server s to port and recomputes its points. */
static void spread_set_port(spread_t *sp, int s, int port)
{
    sp->ports[s] = port;
    sprintf(sp->servers[s].address, "%s:%d", sp->host, port);
    ketama_points(&sp->servers[s]);
}

/* A random port of the range that no server has and that is not unusable;
 * 0 (after printing why) when FRESH_PORT_DRAWS draws found none. */
static int spread_fresh_port(spread_t *sp)
{
    for (int draw = 0; draw < FRESH_PORT_DRAWS; draw++) {
        int port = (int)(sp->low + random_below(sp, sp->high - sp->low + 1));
        bool taken = sp->unusable[port];
        for (int s = 0; s < sp->nservers && !taken; s++) taken = sp->ports[s] == port;
        if (!taken) return port;
    }
    complain("--spread-ports: no free port left in %ld-%ld", sp->low, sp->high);
    return 0;
}

/* Whether port can be bound on the host now: 1 free, 0 taken (bound by
 * someone, or privileged), -1 (after printing why) when the host cannot be
 * bound at all, so that no port of it will ever be free. */
static int port_is_free(const spread_t *sp, int port)
{
    char bare[256];
    size_t len = strlen(sp->host);
    const char *start = sp->host;
    while (len && (*start == '[' || *start == ']')) start++, len--;
    while (len && (start[len - 1] == '[' || start[len - 1] == ']')) len--;
    if (len >= sizeof bare) {
        complain("--spread-ports: host '%.40s...' is too long", start);
        return -1;
    }
    memcpy(bare, start, len);
    bare[len] = 0;
    struct addrinfo hints = {.ai_family = memchr(bare, ':', len) ? AF_INET6 : AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    char port_str[8];
    snprintf(port_str, sizeof port_str, "%d", port);
    int gai = getaddrinfo(bare, port_str, &hints, &found);
    if (gai != 0) {
        complain("--spread-ports: cannot resolve %s: %s", PRINTABLE(bare), gai_strerror(gai));
        return -1;
    }
    int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
    int bound = fd >= 0 ? bind(fd, found->ai_addr, found->ai_addrlen) : -1;
    int bind_errno = errno;
    if (fd >= 0) close(fd);
    freeaddrinfo(found);
    if (bound == 0) return 1;
    if (fd >= 0 && (bind_errno == EADDRINUSE || bind_errno == EACCES)) return 0;
    complain("--spread-ports: cannot bind a port on %s: %s", PRINTABLE(bare), strerror(bind_errno));
    return -1;
}

/* Runs the search; the servers' addresses are then sp->servers[].address,
 * and *moves how many moves it made. Returns 0, or the exit status after
 * printing why not. */
static int spread_search(spread_t *sp, family_t *families, int nfamilies, long *moves)
{
    int n = sp->nservers;
    int *counts = cv_calloc((size_t)n, sizeof(int)), *candidate_counts = cv_calloc((size_t)n, sizeof(int));
    int *busiest = cv_calloc((size_t)n, sizeof(int));
    int rc = EXIT_BAD_INPUT;
    if (!counts || !candidate_counts || !busiest) {
        complain("out of memory");
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    int most = (nfamilies + n - 1) / n;
    spread_score_t ideal = {most, nfamilies - n * (most - 1)}; /* the fewest servers that can carry `most` */
    for (int s = 0; s < n; s++) sp->ports[s] = 0;
    for (int s = 0; s < n; s++) {
        int port = spread_fresh_port(sp);
        if (!port) goto done;
        spread_set_port(sp, s, port);
    }
    place(sp->servers, n, families, nfamilies, counts);
    spread_score_t score = spread_score_of(counts, n);
    long tries = sp->tries;
    *moves = 0;
    for (;;) {
        while (spread_score_compare(score, ideal) > 0 && *moves < tries) {
            ++*moves;
            int nbusiest = 0;
            for (int s = 0; s < n; s++)
                if (counts[s] == score.most) busiest[nbusiest++] = s;
            int s = erand48(sp->random_state) < 0.5 ? busiest[random_below(sp, nbusiest)] : (int)random_below(sp, n);
            int port = spread_fresh_port(sp), old_port = sp->ports[s];
            if (!port) goto done;
            spread_set_port(sp, s, port);
            place(sp->servers, n, families, nfamilies, candidate_counts);
            spread_score_t candidate = spread_score_of(candidate_counts, n);
            if (spread_score_compare(candidate, score) <= 0) {
                score = candidate;
                memcpy(counts, candidate_counts, (size_t)n * sizeof(int));
            } else {
                spread_set_port(sp, s, old_port);
            }
        }
        bool all_free = true;
        for (int s = 0; s < n; s++) {
            int free_now = port_is_free(sp, sp->ports[s]);
            if (free_now < 0) goto done;
            if (free_now) continue;
            /* Bound by someone else: never again, and this server moves on. */
            all_free = false;
            sp->unusable[sp->ports[s]] = true;
            int port = spread_fresh_port(sp);
            if (!port) goto done;
            spread_set_port(sp, s, port);
        }
        if (all_free) break;
        place(sp->servers, n, families, nfamilies, counts);
        score = spread_score_of(counts, n);
        if (tries < *moves + 1000) tries = *moves + 1000;
    }
    rc = 0;
done:
    cv_free(counts);
    cv_free(candidate_counts);
    cv_free(busiest);
    return rc;
}

/* ---- the templates ----------------------------------------------------------- */

typedef struct placeholder {
    const char *name;
    const char *value;
} placeholder_t;

/* text with every "@name@" replaced by value (cv_free; text is freed),
 * NULL when out of memory. */
static char *replace_all(char *text, const char *name, const char *value)
{
    char marker[64];
    snprintf(marker, sizeof marker, "@%s@", name);
    size_t marker_len = strlen(marker);
    cv_sbuf_t b = {0};
    const char *at = text;
    for (const char *hit; (hit = strstr(at, marker)); at = hit + marker_len) {
        cv_sbuf_append(&b, at, (size_t)(hit - at));
        cv_sbuf_puts(&b, value);
    }
    cv_sbuf_puts(&b, at);
    cv_free(text);
    return cv_sbuf_take(&b, NULL);
}

/* A placeholder found in a text: "@name@", len bytes at p. */
typedef struct text_slice {
    const char *p;
    size_t len;
} text_slice_t;

/* The order of the NUL-terminated copies under strcmp. */
static int compare_slices(const void *a, const void *b)
{
    const text_slice_t *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The template (template_len bytes) with each placeholder replaced in
 * turn, each over the whole text so far; *out (cv_free). A placeholder
 * "@[a-z_]+@" left over is an error (a template and this code out of step,
 * or a value that brings one). Returns 0, or the exit status after printing
 * why not. */
static int template_fill(const char *template_name, const unsigned char *template, size_t template_len,
                         const placeholder_t *values, int nvalues, char **out)
{
    *out = NULL;
    char *text = cv_malloc(template_len + 1);
    if (text) {
        memcpy(text, template, template_len);
        text[template_len] = 0;
    }
    for (int i = 0; i < nvalues && text; i++) text = replace_all(text, values[i].name, values[i].value);
    if (!text) {
        complain("out of memory");
        return EXIT_RUN_FAILED;
    }
    /* The placeholders left, each named once, sorted. */
    text_slice_t left[64];
    int nleft = 0;
    for (const char *p = text; (p = strchr(p, '@'));) {
        size_t n = 1;
        while ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '_') n++;
        if (n == 1 || p[n] != '@') {
            p++;
            continue;
        }
        if (nleft < (int)CV_ARRAY_LEN(left)) left[nleft++] = (text_slice_t){p, n + 1};
        p += n + 1;
    }
    if (nleft == 0) {
        *out = text;
        return 0;
    }
    qsort(left, (size_t)nleft, sizeof(left[0]), compare_slices);
    cv_sbuf_t names = {0};
    for (int i = 0; i < nleft; i++) {
        if (i > 0 && !compare_slices(&left[i - 1], &left[i])) continue;
        if (i > 0) cv_sbuf_puts(&names, ", ");
        cv_sbuf_append(&names, left[i].p, left[i].len);
    }
    char shown[512];
    if (names.failed)
        complain("%s: placeholders without a value (out of memory naming them)", template_name);
    else
        complain("%s: placeholders without a value: %s", template_name,
                 printable(names.data, names.len, shown, sizeof shown));
    cv_sbuf_free(&names);
    cv_free(text);
    return EXIT_BAD_INPUT;
}

/* ---- the output ----------------------------------------------------------------- */

/* dir joined with name as Python's os.path.join does it (the old script's
 * paths, on stdout, are kept): no '/' added after one; cv_free. */
static char *path_join(const char *dir, const char *name)
{
    cv_sbuf_t b = {0};
    size_t n = strlen(dir);
    cv_sbuf_printf(&b, "%s%s%s", dir, n == 0 || dir[n - 1] == '/' ? "" : "/", name);
    return cv_sbuf_take(&b, NULL);
}

/* mkdir -p: path and every folder above it that is missing. */
static bool make_folders(const char *path)
{
    char *copy = cv_strdup(path);
    if (!copy) {
        errno = ENOMEM;
        return false;
    }
    bool ok = true;
    for (char *slash = copy; ok;) {
        slash = strchr(slash + 1, '/');
        if (slash) *slash = 0;
        struct stat st;
        if (copy[0] && mkdir(copy, 0777) != 0 && !(errno == EEXIST && stat(copy, &st) == 0 && S_ISDIR(st.st_mode))) {
            if (errno == EEXIST) errno = ENOTDIR;
            ok = false;
        }
        if (!slash) break;
        *slash = '/';
    }
    cv_free(copy);
    return ok;
}

/* Writes text to dir/name; prints why not and returns false on failure. */
static bool write_text(const char *dir, const char *name, const char *text, size_t len)
{
    char *path = path_join(dir, name);
    if (!path) {
        complain("out of memory");
        return false;
    }
    FILE *f = fopen(path, "w");
    bool ok = f && fwrite(text, 1, len, f) == len;
    int write_errno = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = false;
        write_errno = errno;
    }
    if (!ok) complain("cannot write %s: %s", PRINTABLE(path), strerror(write_errno));
    cv_free(path);
    return ok;
}

/* ---- the command ------------------------------------------------------------------- */

typedef struct nginx_conf_options {
    const char *out, *families_path;
    const char **servers; /* --server, in the order given */
    int nservers, servers_cap;
    const char *spread_ports, *port_range;
    long tries, max_fails;
    const char *listen, *fail_timeout, *connect_timeout, *read_timeout, *access_log, *worker_processes;
} nginx_conf_options_t;

/* Reads the options into o. Returns 0, -1 after --help, or the exit status
 * after printing why not. */
static int options_parse(int argc, char **argv, nginx_conf_options_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        }
        const char *v = cv_cli_option_value(CMD, argc, argv, &i);
        if (!v) return EXIT_BAD_INPUT;
        if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--families")) o->families_path = v;
        else if (!strcmp(a, "--server")) {
            if (CV_GROW(o->servers, o->nservers, o->servers_cap) != CV_STATUS_OK) {
                complain("out of memory");
                return EXIT_RUN_FAILED;
            }
            o->servers[o->nservers++] = v;
        } else if (!strcmp(a, "--spread-ports")) o->spread_ports = v;
        else if (!strcmp(a, "--port-range")) o->port_range = v;
        else if (!strcmp(a, "--tries")) {
            if (!cv_cli_parse_int("--tries", v, 1, &o->tries)) return EXIT_BAD_INPUT;
        } else if (!strcmp(a, "--listen")) o->listen = v;
        else if (!strcmp(a, "--max-fails")) {
            if (!cv_cli_parse_int("--max-fails", v, 1, &o->max_fails)) return EXIT_BAD_INPUT;
        } else if (!strcmp(a, "--fail-timeout")) o->fail_timeout = v;
        else if (!strcmp(a, "--connect-timeout")) o->connect_timeout = v;
        else if (!strcmp(a, "--read-timeout")) o->read_timeout = v;
        else if (!strcmp(a, "--access-log")) o->access_log = v;
        else if (!strcmp(a, "--worker-processes")) o->worker_processes = v;
        else {
            complain("unknown option '%s' (see --help)", PRINTABLE(a));
            return EXIT_BAD_INPUT;
        }
    }
    return 0;
}

/* Checks the options that reach the configuration, and fills sp for
 * --spread-ports (sp->nservers stays 0 without it). Returns 0, or the exit
 * status after printing why not. */
static int options_check(const nginx_conf_options_t *o, spread_t *sp)
{
    if (!o->out || !o->families_path) {
        complain("%s is required (see --help)", !o->out ? "--out" : "--families");
        return EXIT_BAD_INPUT;
    }
    if ((o->nservers > 0) == (o->spread_ports != NULL)) {
        complain("give either --server (repeatable) or --spread-ports HOST:N");
        return EXIT_BAD_INPUT;
    }
    for (int i = 0; i < o->nservers; i++) {
        if (!address_valid(o->servers[i])) {
            complain("--server '%s' is not HOST:PORT", PRINTABLE(o->servers[i]));
            return EXIT_BAD_INPUT;
        }
    }
    for (int i = 0; i < o->nservers; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(o->servers[j], o->servers[i])) {
                complain("--server %s is given twice", o->servers[i]);
                return EXIT_BAD_INPUT;
            }
    if (o->spread_ports) {
        const char *count = strrchr(o->spread_ports, ':');
        if (!host_colon_digits(o->spread_ports, 3) || atoi(count + 1) < 1) {
            complain("--spread-ports '%s' is not HOST:N with N >= 1", PRINTABLE(o->spread_ports));
            return EXIT_BAD_INPUT;
        }
        const char *dash = strchr(o->port_range, '-');
        long low = dash ? atol(o->port_range) : 0, high = dash ? atol(dash + 1) : 0;
        if (!dash || !digits(o->port_range, (size_t)(dash - o->port_range), 1, 5) ||
            !digits(dash + 1, strlen(dash + 1), 1, 5) || !(1 <= low && low <= high && high <= 65535)) {
            complain("--port-range '%s' is not LOW-HIGH within 1-65535", PRINTABLE(o->port_range));
            return EXIT_BAD_INPUT;
        }
        sp->nservers = atoi(count + 1);
        if (high - low + 1 < 2L * sp->nservers) {
            complain("--port-range %s is too narrow for %d servers", o->port_range, sp->nservers);
            return EXIT_BAD_INPUT;
        }
        sp->low = low, sp->high = high, sp->tries = o->tries;
        sp->host = cv_malloc((size_t)(count - o->spread_ports) + 1);
        if (!sp->host) {
            complain("out of memory");
            return EXIT_RUN_FAILED;
        }
        memcpy(sp->host, o->spread_ports, (size_t)(count - o->spread_ports));
        sp->host[count - o->spread_ports] = 0;
    }
    if (!address_valid(o->listen) && !digits(o->listen, strlen(o->listen), 1, 5)) {
        complain("--listen '%s' is not HOST:PORT or PORT", PRINTABLE(o->listen));
        return EXIT_BAD_INPUT;
    }
    const struct {
        const char *option, *value;
    } durations[] = {{"--fail-timeout", o->fail_timeout},
                     {"--connect-timeout", o->connect_timeout},
                     {"--read-timeout", o->read_timeout}};
    for (size_t i = 0; i < CV_ARRAY_LEN(durations); i++)
        if (!duration_valid(durations[i].value)) {
            complain("%s '%s' is not a duration like 10s or 500ms", durations[i].option,
                     PRINTABLE(durations[i].value));
            return EXIT_BAD_INPUT;
        }
    const char *w = o->worker_processes;
    if (strcmp(w, "auto") != 0 && !digits(w, strlen(w), 1, strlen(w))) {
        complain("--worker-processes must be a number or auto, not '%s'", PRINTABLE(w));
        return EXIT_BAD_INPUT;
    }
    if (!plain_path(o->access_log)) {
        complain("--access-log must be a plain path (no white space, quotes, ';', '{' or '}'), not '%s'",
                 PRINTABLE(o->access_log));
        return EXIT_BAD_INPUT;
    }
    return 0;
}

/* The servers for the ring and the configuration (*out, cv_free, with each
 * address): the --server addresses, or those --spread-ports finds. Returns
 * 0, or the exit status after printing why not. */
static int servers_choose(const nginx_conf_options_t *o, spread_t *sp, family_t *families, int nfamilies,
                          ring_server_t **out, int *nservers)
{
    int n = sp->nservers ? sp->nservers : o->nservers;
    ring_server_t *servers = cv_calloc((size_t)n, sizeof(*servers));
    if (!servers) goto oom;
    *out = servers;
    *nservers = n;
    for (int s = 0; s < n; s++) {
        servers[s].address = sp->nservers ? cv_malloc(strlen(sp->host) + 8) : cv_strdup(o->servers[s]);
        if (!servers[s].address) goto oom;
    }
    if (!sp->nservers) {
        for (int s = 0; s < n; s++) ketama_points(&servers[s]);
        return 0;
    }
    /* nginx's own port is never a server's. */
    const char *listen_port = strrchr(o->listen, ':');
    listen_port = listen_port ? listen_port + 1 : o->listen;
    if (atol(listen_port) < PORT_COUNT) sp->unusable[atol(listen_port)] = true;
    sp->ports = cv_calloc((size_t)n, sizeof(int));
    if (!sp->ports) goto oom;
    sp->servers = servers;
    /* Not a fixed seed: runs at once on one host must not race for the
     * same ports. */
    uint64_t seed = (uint64_t)time(NULL) ^ cv_clock_ns() ^ ((uint64_t)getpid() << 32);
    for (int i = 0; i < 3; i++) sp->random_state[i] = (unsigned short)(seed >> (16 * i));
    long moves = 0;
    int rc = spread_search(sp, families, nfamilies, &moves);
    if (rc) return rc;
    printf("spread-ports:");
    for (int s = 0; s < n; s++) printf(" %s", servers[s].address);
    printf(" (%ld ports tried)\n", moves);
    return 0;
oom:
    complain("out of memory");
    return EXIT_RUN_FAILED;
}

/* The body of caravel.conf's model -> family map, aligned; and the
 * upstreams' server lines. Returns false when out of memory. */
static bool conf_blocks(const nginx_conf_options_t *o, const family_map_t *map, const ring_server_t *servers,
                        int nservers, cv_sbuf_t *family_lines, cv_sbuf_t *server_lines)
{
    int width = 0;
    for (int i = 0; i < map->count; i++) width = CV_MAX(width, (int)strlen(map->entries[i].model));
    for (int i = 0; i < map->count; i++)
        cv_sbuf_printf(family_lines, "%s    %-*s %s;", i ? "\n" : "", width, map->entries[i].model,
                       map->entries[i].key);
    for (int s = 0; s < nservers; s++)
        cv_sbuf_printf(server_lines, "%s    server %s max_fails=%ld fail_timeout=%s;", s ? "\n" : "",
                       servers[s].address, o->max_fails, o->fail_timeout);
    /* An empty block is never taken (there is a model and a server). */
    return !family_lines->failed && !server_lines->failed && family_lines->data && server_lines->data;
}

/* placement.tsv: a row per family (sorted by key) with its models and server. */
static bool write_placement(const char *out, const family_t *families, int nfamilies, const ring_server_t *servers)
{
    cv_sbuf_t tsv = {0};
    cv_sbuf_puts(&tsv, "family\tmodels\tserver\n");
    for (int f = 0; f < nfamilies; f++)
        cv_sbuf_printf(&tsv, "%s\t%d\t%s\n", families[f].key, families[f].models, servers[families[f].owner].address);
    bool ok = !tsv.failed && write_text(out, "placement.tsv", tsv.data, tsv.len);
    if (tsv.failed) complain("out of memory");
    cv_sbuf_free(&tsv);
    return ok;
}

/* servers: one HOST:PORT a line, the servers to start. */
static bool write_servers(const char *out, const ring_server_t *servers, int nservers)
{
    cv_sbuf_t list = {0};
    for (int s = 0; s < nservers; s++) cv_sbuf_printf(&list, "%s\n", servers[s].address);
    bool ok = !list.failed && write_text(out, "servers", list.data, list.len);
    if (list.failed) complain("out of memory");
    cv_sbuf_free(&list);
    return ok;
}

/* The summary on stdout: what was written, then each server's share. */
static void print_summary(const nginx_conf_options_t *o, const family_map_t *map, const family_t *families,
                          int nfamilies, const ring_server_t *servers, int nservers)
{
    char *nginx_conf = path_join(o->out, "nginx.conf"), *caravel_conf = path_join(o->out, "caravel.conf");
    char *placement = path_join(o->out, "placement.tsv");
    printf("wrote %s and %s: %d servers, %d models in %d families\n", nginx_conf ? nginx_conf : "nginx.conf",
           caravel_conf ? caravel_conf : "caravel.conf", nservers, map->count, nfamilies);
    printf("while all are up (%s):\n", placement ? placement : "placement.tsv");
    for (int s = 0; s < nservers; s++) {
        int mine = 0, models = 0;
        for (int f = 0; f < nfamilies; f++)
            if (families[f].owner == s) mine++, models += families[f].models;
        printf("  %s: %d %s, %d %s\n", servers[s].address, mine, mine == 1 ? "family" : "families", models,
               models == 1 ? "model" : "models");
    }
    cv_free(nginx_conf);
    cv_free(caravel_conf);
    cv_free(placement);
}

int cv_cmd_nginx_conf(int argc, char **argv)
{
    nginx_conf_options_t o = {
        .port_range = "20000-39999",
        .tries = 100000,
        .listen = "127.0.0.1:8080",
        .max_fails = 1,
        .fail_timeout = "10s",
        .connect_timeout = "2s",
        .read_timeout = "60s",
        .access_log = "access.log",
        .worker_processes = "1",
    };
    family_map_t map = {0};
    family_t *families = NULL;
    int nfamilies = 0, nservers = 0;
    ring_server_t *servers = NULL;
    spread_t *sp = NULL;
    cv_sbuf_t family_lines = {0}, server_lines = {0}, access_log = {0};
    char *caravel_conf = NULL, *nginx_conf = NULL, *tmp = NULL;

    int rc = options_parse(argc, argv, &o);
    if (rc) {
        rc = rc < 0 ? 0 : rc;
        goto done;
    }
    sp = cv_calloc(1, sizeof(*sp));
    if (!sp) {
        complain("out of memory");
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    if ((rc = options_check(&o, sp))) goto done;
    if ((rc = family_map_read(o.families_path, &map))) goto done;
    families = families_of(&map, &nfamilies);
    if (!families) {
        complain("out of memory");
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    if ((rc = servers_choose(&o, sp, families, nfamilies, &servers, &nservers))) goto done;

    if (!conf_blocks(&o, &map, servers, nservers, &family_lines, &server_lines)) {
        complain("out of memory");
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    char max_fails[32];
    snprintf(max_fails, sizeof max_fails, "%ld", o.max_fails);
    /* The log_format of caravel.conf, which names each request's family. */
    cv_sbuf_printf(&access_log, "%s%s", o.access_log, strcmp(o.access_log, "off") == 0 ? "" : " caravel");
    if (access_log.failed) {
        complain("out of memory");
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    /* Replaced in this order, each over the text so far. */
    const placeholder_t caravel_values[] = {
        {"family_map", family_lines.data},    {"servers", server_lines.data},
        {"listen", o.listen},                 {"max_fails", max_fails},
        {"fail_timeout", o.fail_timeout},     {"connect_timeout", o.connect_timeout},
        {"read_timeout", o.read_timeout},     {"access_log", access_log.data},
    };
    const placeholder_t nginx_values[] = {{"worker_processes", o.worker_processes}};
    if ((rc = template_fill("caravel.conf.template", cv_nginx_caravel_conf_template,
                            sizeof cv_nginx_caravel_conf_template, caravel_values,
                            (int)CV_ARRAY_LEN(caravel_values), &caravel_conf)))
        goto done;
    if ((rc = template_fill("nginx.conf.template", cv_nginx_nginx_conf_template, sizeof cv_nginx_nginx_conf_template,
                            nginx_values, (int)CV_ARRAY_LEN(nginx_values), &nginx_conf)))
        goto done;

    /* tmp/: nginx's temporary files (nginx.conf points there). */
    tmp = path_join(o.out, "tmp");
    if (!tmp || !make_folders(tmp)) {
        complain("cannot create %s: %s", tmp ? PRINTABLE(tmp) : "tmp", strerror(errno));
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    rc = EXIT_RUN_FAILED;
    if (!write_text(o.out, "caravel.conf", caravel_conf, strlen(caravel_conf))) goto done;
    if (!write_text(o.out, "nginx.conf", nginx_conf, strlen(nginx_conf))) goto done;
    for (int f = 0; f < nfamilies; f++) families[f].owner = ketama_owner(servers, nservers, families[f].hash);
    if (!write_placement(o.out, families, nfamilies, servers)) goto done;
    if (!write_servers(o.out, servers, nservers)) goto done;
    print_summary(&o, &map, families, nfamilies, servers, nservers);
    rc = 0;
done:
    fflush(stdout);
    for (int s = 0; s < nservers; s++) cv_free(servers[s].address);
    cv_free(servers);
    if (sp) {
        cv_free(sp->host);
        cv_free(sp->ports);
    }
    cv_free(sp);
    cv_free(families);
    family_map_free(&map);
    cv_free(o.servers);
    cv_sbuf_free(&family_lines);
    cv_sbuf_free(&server_lines);
    cv_sbuf_free(&access_log);
    cv_free(caravel_conf);
    cv_free(nginx_conf);
    cv_free(tmp);
    return rc;
}
