/*
 * Compiled twin of tracker/ami/parser.py (FrameParser) and of the common case of
 * tracker/events/decode.py (decode_headers). The pure-Python modules are the reference:
 * every frame or event this code is not sure about is handed to them, so the results are
 * identical by construction (tests/ami/test_differential.py checks it).
 *
 * FrameParser: one buffer, a terminator search that resumes where it stopped (linear in
 * the input whatever the chunking), frames split into header lines in C, each line looked up
 * in a bounded per-parser cache keyed by its bytes (the (key, value) pairs and their strings
 * are shared between frames, keys interned), and the Frame built by writing its slots.
 * Frames that are not plain ASCII/UTF-8 "Key: value" lines with CRLF go to build_frame().
 *
 * EventDecoder: headers -> typed msgspec Struct through a per-class field table (wire name
 * -> field, converter), calling the Struct class with keyword arguments in field order; the
 * conversions accept only the inputs where they provably agree with msgspec.convert(
 * strict=False); anything else (repeats of a single-valued header, unusual numbers,
 * unusual numbers, unknown enum values, unknown event names) goes to the Python decoder.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---------------------------------------------------------------------------------------- */
/* configuration handed over by tracker/ami/parser.py                                        */

static PyTypeObject *frame_type = NULL;
static Py_ssize_t off_kind, off_raw, off_headers, off_fallback, off_problem, off_action_id,
    off_completes;
static PyObject *kind_by_first_key = NULL; /* dict: "Event" -> FrameKind.EVENT, ... */
static PyObject *build_frame = NULL;       /* build_frame(raw, body) -> Frame */
static PyObject *banner_frame = NULL;      /* banner_frame(raw) -> Frame | None */
static PyObject *anomaly_frame = NULL;     /* anomaly_frame(raw, problem) -> Frame */
static PyObject *str_timestamp = NULL;
static PyObject *str_actionid = NULL;
static PyObject *str_event = NULL;
static PyObject *str_scope = NULL; /* "ChanVariable(" */

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static int
slot_offset(PyObject *cls, const char *name, Py_ssize_t *out)
{
    PyObject *descr = PyObject_GetAttrString(cls, name);
    if (descr == NULL)
        return -1;
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        Py_DECREF(descr);
        PyErr_Format(PyExc_TypeError, "Frame.%s is not a slot", name);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY)) {
        Py_DECREF(descr);
        PyErr_Format(PyExc_TypeError, "Frame.%s is not a writable object slot", name);
        return -1;
    }
    *out = m->offset;
    Py_DECREF(descr);
    return 0;
}

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *cls, *kinds, *build, *banner, *anomaly;
    if (!PyArg_ParseTuple(args, "O!O!OOO", &PyType_Type, &cls, &PyDict_Type, &kinds, &build,
                          &banner, &anomaly))
        return NULL;
    if (slot_offset(cls, "kind", &off_kind) || slot_offset(cls, "raw", &off_raw) ||
        slot_offset(cls, "headers", &off_headers) || slot_offset(cls, "fallback", &off_fallback) ||
        slot_offset(cls, "problem", &off_problem) ||
        slot_offset(cls, "action_id", &off_action_id) ||
        slot_offset(cls, "completes", &off_completes))
        return NULL;
    if (((PyTypeObject *)cls)->tp_dictoffset != 0) {
        PyErr_SetString(PyExc_TypeError, "Frame must have __slots__ and no __dict__");
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(frame_type, (PyTypeObject *)cls);
    Py_INCREF(kinds);
    Py_XSETREF(kind_by_first_key, kinds);
    Py_INCREF(build);
    Py_XSETREF(build_frame, build);
    Py_INCREF(banner);
    Py_XSETREF(banner_frame, banner);
    Py_INCREF(anomaly);
    Py_XSETREF(anomaly_frame, anomaly);
    Py_RETURN_NONE;
}

/* A Frame(kind, raw, headers, fallback=..., action_id=...) without running __init__.
 * Steals the references to headers and action_id. */
static PyObject *
new_frame(PyObject *kind, PyObject *raw, PyObject *headers, int fallback, PyObject *action_id)
{
    PyObject *f = frame_type->tp_alloc(frame_type, 0);
    if (f == NULL) {
        Py_DECREF(headers);
        Py_XDECREF(action_id);
        return NULL;
    }
    Py_INCREF(kind);
    SLOT(f, off_kind) = kind;
    Py_INCREF(raw);
    SLOT(f, off_raw) = raw;
    SLOT(f, off_headers) = headers;
    SLOT(f, off_fallback) = Py_NewRef(fallback ? Py_True : Py_False);
    SLOT(f, off_problem) = Py_NewRef(Py_None);
    SLOT(f, off_action_id) = action_id != NULL ? action_id : Py_NewRef(Py_None);
    SLOT(f, off_completes) = Py_NewRef(Py_None);
    return f;
}

/* ---------------------------------------------------------------------------------------- */
/* the per-parser header-line cache                                                          */

#define CACHE_SLOTS 16384  /* power of two */
#define CACHE_MAX 8192     /* entries before the cache starts afresh (as the pure one) */
#define CACHE_PROBES 16    /* longer probe chains are not cached: bounded work per line */
#define CACHE_MAX_LINE 512 /* longer lines (and keys) are not cached: bounds its memory */
#define MIN_FRAME_SIZE 16  /* as parser.MIN_FRAME_SIZE */
enum { LINES_NONE = 0, LINES_OK, LINES_BARE_LF }; /* Parser.lines_state */

typedef struct {
    uint64_t hash;
    Py_ssize_t len;
    PyObject *line; /* bytes (NULL: empty slot) */
    PyObject *pair; /* (key, value) */
} CacheEntry;

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

/* ---------------------------------------------------------------------------------------- */
/* FrameParser                                                                               */

typedef struct {
    PyObject_HEAD
    char *buf;
    Py_ssize_t len, cap;
    Py_ssize_t pos;  /* start of the unconsumed data */
    Py_ssize_t scan; /* where the terminator search resumes */
    Py_ssize_t max_frame_size;
    Py_ssize_t bytes_received;
    Py_ssize_t scanned; /* bytes searched or moved: the work that must stay linear (tests) */
    struct Line *lines; /* the header lines of the frame being cut (offsets from its start) */
    Py_ssize_t nlines, lines_cap;
    int lines_state; /* LINES_NONE, LINES_OK or LINES_BARE_LF */
    uint64_t lines_or; /* every byte of the lines OR-ed together: ASCII when no high bit */
    int await_banner, discarding, eof;
    CacheEntry *cache;
    Py_ssize_t cached;
    PyObject *keys; /* dict: key bytes -> interned str (bounded like the cache) */
} Parser;

static void
cache_clear(Parser *self)
{
    if (self->cache == NULL)
        return;
    for (Py_ssize_t i = 0; i < CACHE_SLOTS; i++) {
        CacheEntry *e = &self->cache[i];
        if (e->line != NULL) {
            Py_CLEAR(e->line);
            Py_CLEAR(e->pair);
        }
    }
    self->cached = 0;
}

static int
Parser_init(Parser *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_frame_size", "expect_banner", NULL};
    Py_ssize_t max_frame_size = 1 << 20;
    int expect_banner = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$np", kwlist, &max_frame_size,
                                     &expect_banner))
        return -1;
    if (frame_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "tracker.ami._speedups is not configured");
        return -1;
    }
    if (max_frame_size < MIN_FRAME_SIZE) {
        PyErr_Format(PyExc_ValueError, "max_frame_size must be at least %d", MIN_FRAME_SIZE);
        return -1;
    }
    self->max_frame_size = max_frame_size;
    self->await_banner = expect_banner;
    self->discarding = self->eof = 0;
    self->len = self->pos = self->scan = self->bytes_received = self->scanned = 0;
    self->lines_state = LINES_NONE;
    cache_clear(self);
    if (self->cache == NULL) {
        self->cache = PyMem_Calloc(CACHE_SLOTS, sizeof(CacheEntry));
        if (self->cache == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    if (self->keys == NULL) {
        self->keys = PyDict_New();
        if (self->keys == NULL)
            return -1;
    }
    return 0;
}

static void
Parser_dealloc(Parser *self)
{
    cache_clear(self);
    PyMem_Free(self->cache);
    PyMem_Free(self->buf);
    PyMem_Free(self->lines);
    Py_XDECREF(self->keys);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Parser_feed(Parser *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len == 0) {
        self->eof = 1;
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    self->bytes_received += view.len;
    if (self->pos && self->pos > self->len / 2) {
        memmove(self->buf, self->buf + self->pos, (size_t)(self->len - self->pos));
        self->scanned += self->len - self->pos;
        self->len -= self->pos;
        self->scan -= self->pos;
        self->pos = 0;
    }
    if (self->len + view.len > self->cap) {
        Py_ssize_t cap = self->cap ? self->cap : 1 << 16;
        while (cap < self->len + view.len)
            cap *= 2;
        char *nb = PyMem_Realloc(self->buf, (size_t)cap);
        if (nb == NULL) {
            PyBuffer_Release(&view);
            return PyErr_NoMemory();
        }
        self->buf = nb;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, view.buf, (size_t)view.len);
    self->len += view.len;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *
anomaly(PyObject *raw, const char *problem)
{
    PyObject *p = PyUnicode_FromString(problem);
    if (p == NULL)
        return NULL;
    PyObject *f = PyObject_CallFunctionObjArgs(anomaly_frame, raw, p, NULL);
    Py_DECREF(p);
    return f;
}

static PyObject *
take(Parser *self, Py_ssize_t start, Py_ssize_t stop)
{
    PyObject *raw = PyBytes_FromStringAndSize(self->buf + start, stop - start);
    if (raw != NULL)
        self->pos = self->scan = stop;
    return raw;
}

static PyObject *
slow_frame(PyObject *raw)
{
    PyObject *body =
        PyBytes_FromStringAndSize(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw) - 4);
    if (body == NULL)
        return NULL;
    PyObject *f = PyObject_CallFunctionObjArgs(build_frame, raw, body, NULL);
    Py_DECREF(body);
    return f;
}

/* text for bytes [p, p+n) of a frame: ASCII copy, UTF-8 (frame known valid) or latin-1 */
static PyObject *
text(const char *p, Py_ssize_t n, int mode)
{
    if (mode == 0) {
        PyObject *s = PyUnicode_New(n, 127);
        if (s != NULL)
            memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
        return s;
    }
    if (mode == 1)
        return PyUnicode_DecodeUTF8(p, n, "strict");
    return PyUnicode_DecodeLatin1(p, n, "strict");
}

static PyObject *
intern_key(Parser *self, const char *p, Py_ssize_t n, int mode)
{
    if (mode == 2 || n > CACHE_MAX_LINE) { /* latin-1 frames, long keys: not cached */
        PyObject *k = text(p, n, mode);
        if (k != NULL)
            PyUnicode_InternInPlace(&k);
        return k;
    }
    PyObject *kb = PyBytes_FromStringAndSize(p, n);
    if (kb == NULL)
        return NULL;
    PyObject *k = PyDict_GetItemWithError(self->keys, kb);
    if (k != NULL) {
        Py_DECREF(kb);
        return Py_NewRef(k);
    }
    if (PyErr_Occurred() || (k = text(p, n, mode)) == NULL) {
        Py_DECREF(kb);
        return NULL;
    }
    PyUnicode_InternInPlace(&k);
    if (PyDict_GET_SIZE(self->keys) >= CACHE_MAX)
        PyDict_Clear(self->keys);
    int rc = PyDict_SetItem(self->keys, kb, k);
    Py_DECREF(kb);
    if (rc < 0) {
        Py_DECREF(k);
        return NULL;
    }
    return k;
}

/* The (key, value) pair of one line; *bad set when it has no ": ". New reference. */
static PyObject *
line_pair(Parser *self, const char *p, Py_ssize_t n, uint64_t h, int mode, int *bad)
{
    CacheEntry *slot = NULL;
    if (mode != 2) {
        for (Py_ssize_t i = 0; i < CACHE_PROBES; i++) {
            CacheEntry *e = &self->cache[(h + (uint64_t)i) & (CACHE_SLOTS - 1)];
            if (e->line == NULL) {
                slot = e;
                break;
            }
            if (e->hash == h && e->len == n &&
                memcmp(PyBytes_AS_STRING(e->line), p, (size_t)n) == 0)
                return Py_NewRef(e->pair);
        }
    }
    const char *sep = NULL;
    for (const char *q = p; q + 1 < p + n; q++) {
        q = memchr(q, ':', (size_t)(p + n - 1 - q));
        if (q == NULL)
            break;
        if (q[1] == ' ') {
            sep = q;
            break;
        }
    }
    if (sep == NULL) {
        *bad = 1;
        return NULL;
    }
    PyObject *key = intern_key(self, p, sep - p, mode);
    if (key == NULL)
        return NULL;
    PyObject *value = text(sep + 2, p + n - sep - 2, mode);
    if (value == NULL) {
        Py_DECREF(key);
        return NULL;
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(key);
        Py_DECREF(value);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, key);
    PyTuple_SET_ITEM(pair, 1, value);
    PyObject_GC_UnTrack(pair); /* two strings: never part of a cycle (the GC would untrack it) */
    if (mode != 2 && key != str_timestamp && n <= CACHE_MAX_LINE) {
        if (self->cached >= CACHE_MAX) {
            cache_clear(self);
            slot = &self->cache[h & (CACHE_SLOTS - 1)];
        }
        if (slot != NULL) {
            PyObject *line = PyBytes_FromStringAndSize(p, n);
            if (line == NULL) {
                Py_DECREF(pair);
                return NULL;
            }
            slot->hash = h;
            slot->len = n;
            slot->line = line;
            slot->pair = Py_NewRef(pair);
            self->cached++;
        }
    }
    return pair;
}

/* memchr(p, '\n', end - p) for the short spans of header lines, without a call per line */
static inline const char *
find_lf(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i nl = _mm_set1_epi8('\n');
    while (end - p >= 16) {
        int m = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), nl));
        if (m)
            return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    return memchr(p, '\n', (size_t)(end - p));
}

typedef struct Line {
    Py_ssize_t off; /* from the start of the frame */
    Py_ssize_t n;
    uint64_t h;
} Line;

/* a 64-bit hash of the bytes [p, p+n), also OR-ing every byte into *acc */
static inline uint64_t
hash_line(const unsigned char *p, Py_ssize_t n, uint64_t *acc)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n, a = 0;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        a |= w;
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, (size_t)n);
    a |= w;
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    *acc |= a;
    return h;
}

/* Note the line [off, off + n) of the frame at `base`: hashed, and its cache slot fetched. */
static int
add_line(Parser *self, const char *base, Py_ssize_t off, Py_ssize_t n)
{
    if (self->nlines == self->lines_cap) {
        Py_ssize_t cap = self->lines_cap ? self->lines_cap * 2 : 64;
        Line *grown = PyMem_Realloc(self->lines, sizeof(Line) * (size_t)cap);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->lines = grown;
        self->lines_cap = cap;
    }
    Line *l = &self->lines[self->nlines++];
    l->off = off;
    l->n = n;
    l->h = hash_line((const unsigned char *)base + off, n, &self->lines_or);
    PREFETCH(&self->cache[l->h & (CACHE_SLOTS - 1)]);
    return 0;
}

/* One pass from `start`, the first byte of a frame: finds the first "\r\n\r\n" (returns its
 * position, or -1) and notes the header lines on the way (lines_state). */
static Py_ssize_t
scan_frame(Parser *self, Py_ssize_t start)
{
    const char *buf = self->buf;
    Py_ssize_t len = self->len, line = start, i = start;
    self->nlines = 0;
    self->lines_or = 0;
    self->lines_state = LINES_OK;
    while (i < len) {
        const char *lf = find_lf(buf + i, buf + len);
        if (lf == NULL)
            break;
        i = lf - buf;
        if (i - 3 >= start && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i - 3;
        if (self->lines_state == LINES_OK) {
            if (i > line && buf[i - 1] == '\r') {
                if (add_line(self, buf + start, line - start, i - 1 - line) < 0)
                    return -2;
            }
            else
                self->lines_state = LINES_BARE_LF;
        }
        line = ++i;
    }
    self->lines_state = LINES_NONE;
    return -1;
}

/* The header lines of a frame body (when the frame was not cut by scan_frame). */
static int
split_lines(Parser *self, const char *body, Py_ssize_t n)
{
    Py_ssize_t line = 0;
    self->nlines = 0;
    self->lines_or = 0;
    while (1) {
        const char *lf = find_lf(body + line, body + n);
        if (lf == NULL)
            break;
        Py_ssize_t i = lf - body;
        if (!(i > line && body[i - 1] == '\r')) {
            self->lines_state = LINES_BARE_LF;
            return 0;
        }
        if (add_line(self, body, line, i - 1 - line) < 0)
            return -1;
        line = i + 1;
    }
    if (add_line(self, body, line, n - line) < 0)
        return -1;
    self->lines_state = LINES_OK;
    return 0;
}

/* build_frame(raw, raw[:-4]) for a raw ending in the terminator (the framer's hot path) */
static PyObject *
build_terminated(Parser *self, PyObject *raw)
{
    const char *data = PyBytes_AS_STRING(raw);
    Py_ssize_t body = PyBytes_GET_SIZE(raw) - 4;
    if (self->lines_state == LINES_NONE && split_lines(self, data, body) < 0)
        return NULL;
    if (self->lines_state == LINES_BARE_LF)
        return slow_frame(raw);
    Py_ssize_t nlines = self->nlines, npairs = 0;
    Line *lines = self->lines;
    self->lines_state = LINES_NONE; /* used up */
    int mode = 0;
    if (self->lines_or & 0x8080808080808080ULL) {
        PyObject *t = PyUnicode_DecodeUTF8(data, body, "strict");
        if (t != NULL) {
            Py_DECREF(t);
            mode = 1;
        }
        else if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            mode = 2;
        }
        else
            return NULL;
    }
    if (mode != 2) {
        /* the cache slots were fetched as the lines were found; now the entries' objects, so
         * the cache misses of a frame overlap instead of following one another */
        for (Py_ssize_t i = 0; i < nlines; i++) {
            CacheEntry *e = &self->cache[lines[i].h & (CACHE_SLOTS - 1)];
            if (e->line != NULL && e->hash == lines[i].h) {
                PREFETCH(PyBytes_AS_STRING(e->line));
                PREFETCH(e->pair);
            }
        }
    }
    PyObject *result = NULL, *headers = PyTuple_New(nlines);
    if (headers == NULL)
        return NULL;
    int bad = 0;
    for (; npairs < nlines; npairs++) {
        Line *l = &lines[npairs];
        PyObject *pair = line_pair(self, data + l->off, l->n, l->h, mode, &bad);
        if (pair == NULL) {
            if (bad)
                result = slow_frame(raw);
            goto done;
        }
        PyTuple_SET_ITEM(headers, npairs, pair);
    }
    PyObject *kind = PyDict_GetItemWithError(kind_by_first_key,
                                             PyTuple_GET_ITEM(PyTuple_GET_ITEM(headers, 0), 0));
    if (kind == NULL) {
        if (!PyErr_Occurred())
            result = slow_frame(raw);
        goto done;
    }
    PyObject *action_id = NULL;
    for (Py_ssize_t i = 1; i < nlines; i++) {
        PyObject *pair = PyTuple_GET_ITEM(headers, i);
        if (PyTuple_GET_ITEM(pair, 0) == str_actionid) { /* keys are interned */
            action_id = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
            break;
        }
    }
    PyObject_GC_UnTrack(headers); /* untracked pairs only: never part of a cycle */
    result = new_frame(kind, raw, headers, mode == 2, action_id);
    headers = NULL; /* stolen */
done:
    /* a partly filled tuple: its unset items are NULL, which tuple dealloc skips */
    Py_XDECREF(headers);
    return result;
}

/* first "\r\n\r\n" at or after from, or -1 */
static Py_ssize_t
find_terminator(const char *buf, Py_ssize_t from, Py_ssize_t len)
{
    Py_ssize_t i = from + 3;
    while (i < len) {
        const char *lf = find_lf(buf + i, buf + len);
        if (lf == NULL)
            return -1;
        i = lf - buf;
        if (buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i - 3;
        i += 2; /* the next terminator ends at least two bytes later */
    }
    return -1;
}

static PyObject *Parser_next_frame(Parser *self, PyObject *unused);

static PyObject *
next_banner(Parser *self)
{
    Py_ssize_t start = self->pos;
    const char *nl = memchr(self->buf + start, '\n', (size_t)(self->len - start));
    if (nl == NULL) {
        if (self->eof || self->len - start > 1024) {
            PyObject *raw = take(self, start, self->len);
            if (raw == NULL)
                return NULL;
            self->await_banner = 0;
            PyObject *f = anomaly(raw, "no banner line");
            Py_DECREF(raw);
            return f;
        }
        Py_RETURN_NONE;
    }
    PyObject *raw = take(self, start, nl - self->buf + 1);
    if (raw == NULL)
        return NULL;
    self->await_banner = 0;
    PyObject *f = PyObject_CallOneArg(banner_frame, raw);
    Py_DECREF(raw);
    if (f == Py_None) {
        /* no banner: this stream starts with a frame. Re-frame from the start. */
        Py_DECREF(f);
        self->pos = self->scan = start;
        return Parser_next_frame(self, NULL);
    }
    return f;
}

/* One anomaly for a run of CR/LF bytes between frames (max_frame_size bytes at most). While
 * the run reaches the end of the buffer it may go on: scan remembers how far it was checked. */
static PyObject *
stray_line_breaks(Parser *self)
{
    Py_ssize_t start = self->pos;
    Py_ssize_t i = self->scan > start ? self->scan : start;
    Py_ssize_t stop = self->len - start > self->max_frame_size ? start + self->max_frame_size
                                                               : self->len;
    Py_ssize_t from = i;
    while (i < stop && (self->buf[i] == '\r' || self->buf[i] == '\n'))
        i++;
    self->scanned += i - from + 1;
    if (i == self->len && i - start < self->max_frame_size && !self->eof) {
        self->scan = i;
        Py_RETURN_NONE; /* wait: these may be the start of more line breaks */
    }
    PyObject *raw = take(self, start, i);
    if (raw == NULL)
        return NULL;
    PyObject *f = anomaly(raw, "line breaks between frames");
    Py_DECREF(raw);
    return f;
}

static PyObject *
oversized(Parser *self, PyObject *raw)
{
    char msg[64];
    snprintf(msg, sizeof msg, "frame larger than %zd bytes", self->max_frame_size);
    return anomaly(raw, msg);
}

static PyObject *
no_terminator_yet(Parser *self)
{
    Py_ssize_t start = self->pos;
    Py_ssize_t pending = self->len - start;
    if (self->eof) {
        PyObject *raw = take(self, start, self->len);
        if (raw == NULL)
            return NULL;
        self->discarding = 0;
        PyObject *f = anomaly(raw, "incomplete frame at end of stream");
        Py_DECREF(raw);
        return f;
    }
    if ((self->discarding && pending > 3) || pending > self->max_frame_size) {
        /* keep the bytes, but hand them out now so memory stays bounded */
        PyObject *raw = take(self, start, self->len - 3);
        if (raw == NULL)
            return NULL;
        int first = !self->discarding;
        self->discarding = 1;
        PyObject *f = first ? oversized(self, raw) : anomaly(raw, "oversized frame (continued)");
        Py_DECREF(raw);
        return f;
    }
    self->scan = start > self->len - 3 ? start : self->len - 3;
    Py_RETURN_NONE;
}

static PyObject *
Parser_next_frame(Parser *self, PyObject *unused)
{
    Py_ssize_t start = self->pos;
    if (start >= self->len)
        Py_RETURN_NONE;
    if (self->await_banner)
        return next_banner(self);
    char c = self->buf[start];
    if ((c == '\r' || c == '\n') && !self->discarding)
        return stray_line_breaks(self);
    Py_ssize_t from = self->scan > start ? self->scan : start, end;
    if (from == start && !self->discarding) {
        end = scan_frame(self, start); /* the lines are noted in the same pass */
        if (end == -2)
            return NULL;
    }
    else {
        end = find_terminator(self->buf, from, self->len);
        self->lines_state = LINES_NONE;
    }
    self->scanned += (end < 0 ? self->len : end + 4) - from;
    if (end < 0)
        return no_terminator_yet(self);
    Py_ssize_t stop = end + 4;
    PyObject *raw = take(self, start, stop);
    if (raw == NULL)
        return NULL;
    PyObject *f;
    if (self->discarding) {
        self->discarding = 0;
        f = anomaly(raw, "tail of an oversized frame");
    }
    else if (stop - start > self->max_frame_size)
        f = oversized(self, raw);
    else
        f = build_terminated(self, raw);
    Py_DECREF(raw);
    return f;
}

static PyObject *
Parser_get_buffered(Parser *self, void *closure)
{
    return PyLong_FromSsize_t(self->len - self->pos);
}

static PyObject *
Parser_get_at_eof(Parser *self, void *closure)
{
    return PyBool_FromLong(self->eof);
}

static PyMethodDef Parser_methods[] = {
    {"feed", (PyCFunction)Parser_feed, METH_O, "Feed received bytes; b\"\" marks the end."},
    {"next_frame", (PyCFunction)Parser_next_frame, METH_NOARGS,
     "The next complete frame, or None."},
    {NULL},
};

static PyMemberDef Parser_members[] = {
    {"max_frame_size", T_PYSSIZET, offsetof(Parser, max_frame_size), READONLY, NULL},
    {"bytes_received", T_PYSSIZET, offsetof(Parser, bytes_received), 0, NULL},
    {"_scanned", T_PYSSIZET, offsetof(Parser, scanned), READONLY,
     "bytes searched or moved so far (a diagnostic: linear in the input)"},
    {NULL},
};

static PyGetSetDef Parser_getset[] = {
    {"buffered", (getter)Parser_get_buffered, NULL, NULL, NULL},
    {"at_eof", (getter)Parser_get_at_eof, NULL, NULL, NULL},
    {NULL},
};

static PyTypeObject ParserType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracker.ami._speedups.FrameParser",
    .tp_basicsize = sizeof(Parser),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Compiled FrameParser (same behaviour as tracker.ami.parser.FrameParser).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Parser_init,
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_methods = Parser_methods,
    .tp_members = Parser_members,
    .tp_getset = Parser_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* EventDecoder                                                                              */

enum { K_STR = 0, K_INT, K_FLOAT, K_ENUM, K_DICT, K_LIST, K_EXTRA, K_OTHER, K_SCOPED };
#define MAX_FIELDS 192

typedef struct {
    PyObject *name; /* Python field name (interned) */
    int kind;
    PyObject *enum_map; /* K_ENUM: value -> member */
    PyObject *dflt;     /* the default value, or NULL */
    PyObject *factory;  /* the default factory, or NULL */
    Py_ssize_t offset;  /* of the field's slot in the instance */
} Field;

typedef struct {
    PyObject *cls;
    PyObject *wire; /* dict: wire name -> field index */
    Py_ssize_t nfields;
    Field *fields;
    int direct; /* build the instance by filling its slots (else: call the class) */
    /* wire name -> field index by string identity (the parser interns keys, and so are
     * the names here); a miss is looked up in the dict `wire` */
    PyObject **pkeys;
    Py_ssize_t *pidx;
    size_t pmask;
} ClassInfo;

static inline size_t
ptr_hash(PyObject *k)
{
    return (size_t)(((uintptr_t)k >> 4) * 0x9E3779B97F4A7C15ULL >> 20);
}

static int
ptable_build(ClassInfo *ci)
{
    size_t size = 8;
    while (size < (size_t)PyDict_GET_SIZE(ci->wire) * 3)
        size *= 2;
    ci->pkeys = PyMem_Calloc(size, sizeof(PyObject *));
    ci->pidx = PyMem_Calloc(size, sizeof(Py_ssize_t));
    if (ci->pkeys == NULL || ci->pidx == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    ci->pmask = size - 1;
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(ci->wire, &pos, &k, &v)) {
        size_t i = ptr_hash(k) & ci->pmask;
        while (ci->pkeys[i] != NULL)
            i = (i + 1) & ci->pmask;
        ci->pkeys[i] = k; /* borrowed: the dict `wire` holds it */
        ci->pidx[i] = PyLong_AsSsize_t(v);
    }
    return 0;
}

/* field index of wire name k, -1 when not modelled, -2 on error */
static inline Py_ssize_t
wire_index(ClassInfo *ci, PyObject *k)
{
    size_t i = ptr_hash(k) & ci->pmask;
    while (ci->pkeys[i] != NULL) {
        if (ci->pkeys[i] == k)
            return ci->pidx[i];
        i = (i + 1) & ci->pmask;
    }
    PyObject *idx = PyDict_GetItemWithError(ci->wire, k);
    if (idx == NULL)
        return PyErr_Occurred() ? -2 : -1;
    return PyLong_AsSsize_t(idx);
}

typedef struct {
    PyObject_HEAD
    PyObject *classes;      /* dict: event name -> capsule(ClassInfo), or None: no fast path */
    PyObject *spec_of;      /* name -> the class's table, () or None (asked on a miss) */
    PyObject *nodefault;    /* msgspec.NODEFAULT */
    PyObject *fallback;     /* the Python decode_headers */
    PyObject *envelope;     /* the Envelope class (a tuple subclass) */
    PyObject *decode_frame; /* the Python decode_frame, for frames that are not events */
    PyObject *event_kind, *list_kind;
    PyObject *vars; /* dict: "NAME=value" -> (NAME, value), bounded */
} Decoder;

#define VARS_MAX 4096

static void
classinfo_free(PyObject *capsule)
{
    ClassInfo *ci = PyCapsule_GetPointer(capsule, NULL);
    if (ci == NULL)
        return;
    for (Py_ssize_t i = 0; i < ci->nfields; i++) {
        Py_XDECREF(ci->fields[i].name);
        Py_XDECREF(ci->fields[i].enum_map);
        Py_XDECREF(ci->fields[i].dflt);
        Py_XDECREF(ci->fields[i].factory);
    }
    PyMem_Free(ci->fields);
    PyMem_Free(ci->pkeys);
    PyMem_Free(ci->pidx);
    Py_XDECREF(ci->cls);
    Py_XDECREF(ci->wire);
    PyMem_Free(ci);
}

/* The slot offset of a msgspec Struct field, or -1 when it is not a plain object slot. */
static Py_ssize_t
field_offset(PyObject *cls, PyObject *name)
{
    PyObject *descr = PyObject_GetAttr(cls, name);
    Py_ssize_t offset = -1;
    if (descr == NULL) {
        PyErr_Clear();
        return -1;
    }
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type == T_OBJECT_EX)
            offset = m->offset;
    }
    Py_DECREF(descr);
    return offset;
}

/* (cls, direct, ((wire | None, name, kind, enum_map | None, default | NULL-marker, factory |
 * None), ...), nodefault) -> capsule */
static PyObject *
classinfo_new(PyObject *spec, PyObject *nodefault)
{
    PyObject *cls, *fields;
    int direct;
    if (!PyArg_ParseTuple(spec, "O!pO!", &PyType_Type, &cls, &direct, &PyTuple_Type, &fields))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    if (n > MAX_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "too many fields");
        return NULL;
    }
    ClassInfo *ci = PyMem_Calloc(1, sizeof(ClassInfo));
    if (ci == NULL)
        return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(ci, NULL, classinfo_free);
    if (capsule == NULL) {
        PyMem_Free(ci);
        return NULL;
    }
    ci->fields = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Field));
    ci->wire = PyDict_New();
    ci->cls = Py_NewRef(cls);
    /* filling slots is only sound for types that are not GC-tracked (gc=False) */
    ci->direct = direct && !PyType_HasFeature((PyTypeObject *)cls, Py_TPFLAGS_HAVE_GC);
    if (ci->fields == NULL || ci->wire == NULL)
        goto error;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *wire, *name, *enum_map, *dflt, *factory;
        int kind;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(fields, i), "OUiOOO", &wire, &name, &kind,
                              &enum_map, &dflt, &factory))
            goto error;
        ci->nfields = i + 1;
        Field *fd = &ci->fields[i];
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);
        fd->name = name;
        fd->kind = kind;
        if (enum_map != Py_None)
            fd->enum_map = Py_NewRef(enum_map);
        if (dflt != nodefault)
            fd->dflt = Py_NewRef(dflt);
        if (factory != Py_None)
            fd->factory = Py_NewRef(factory);
        if (fd->dflt == NULL && fd->factory == NULL) {
            PyErr_SetString(PyExc_ValueError, "every field needs a default");
            goto error;
        }
        fd->offset = field_offset(cls, name);
        if (fd->offset < 0)
            ci->direct = 0;
        if (wire != Py_None) {
            PyObject *idx = PyLong_FromSsize_t(i);
            if (idx == NULL)
                goto error;
            Py_INCREF(wire);
            PyUnicode_InternInPlace(&wire);
            int rc = PyDict_SetItem(ci->wire, wire, idx);
            Py_DECREF(wire);
            Py_DECREF(idx);
            if (rc < 0)
                goto error;
        }
    }
    if (ptable_build(ci) < 0)
        goto error;
    return capsule;
error:
    Py_DECREF(capsule);
    return NULL;
}

/* A new reference to a field's default (the factory called for each instance). */
static PyObject *
field_default(Field *fd)
{
    if (fd->factory == NULL)
        return Py_NewRef(fd->dflt);
    if (fd->factory == (PyObject *)&PyDict_Type)
        return PyDict_New();
    if (fd->factory == (PyObject *)&PyList_Type)
        return PyList_New(0);
    return PyObject_CallNoArgs(fd->factory);
}

static int
Decoder_init(Decoder *self, PyObject *args, PyObject *kwds)
{
    PyObject *spec_of, *nodefault, *fallback, *envelope, *decode_frame, *event_kind, *list_kind;
    if (!PyArg_ParseTuple(args, "OOOO!OOO", &spec_of, &nodefault, &fallback, &PyType_Type,
                          &envelope, &decode_frame, &event_kind, &list_kind))
        return -1;
    if (!PyType_IsSubtype((PyTypeObject *)envelope, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "Envelope must be a tuple subclass");
        return -1;
    }
    PyObject *classes = PyDict_New();
    if (classes == NULL)
        return -1;
    Py_XSETREF(self->classes, classes);
    Py_XSETREF(self->spec_of, Py_NewRef(spec_of));
    Py_XSETREF(self->nodefault, Py_NewRef(nodefault));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    Py_XSETREF(self->envelope, Py_NewRef(envelope));
    Py_XSETREF(self->decode_frame, Py_NewRef(decode_frame));
    Py_XSETREF(self->event_kind, Py_NewRef(event_kind));
    Py_XSETREF(self->list_kind, Py_NewRef(list_kind));
    if (self->vars == NULL && (self->vars = PyDict_New()) == NULL)
        return -1;
    return 0;
}

/* The table of the event class named `name` (a capsule), Py_None when the class has no fast
 * path or there is no such class; borrowed. Asked for from spec_of on the first event. */
static PyObject *
class_entry(Decoder *self, PyObject *name)
{
    PyObject *entry = PyDict_GetItemWithError(self->classes, name);
    if (entry != NULL || PyErr_Occurred())
        return entry;
    PyObject *spec = PyObject_CallOneArg(self->spec_of, name);
    if (spec == NULL)
        return NULL;
    if (spec == Py_None) { /* no such class: not remembered */
        Py_DECREF(spec);
        return Py_None;
    }
    if (PyTuple_Check(spec) && PyTuple_GET_SIZE(spec) == 0)
        entry = Py_NewRef(Py_None);
    else
        entry = classinfo_new(spec, self->nodefault);
    Py_DECREF(spec);
    if (entry == NULL)
        return NULL;
    int rc = PyDict_SetItem(self->classes, name, entry);
    Py_DECREF(entry); /* held by the dict */
    return rc < 0 ? NULL : entry;
}

static void
Decoder_dealloc(Decoder *self)
{
    Py_XDECREF(self->classes);
    Py_XDECREF(self->spec_of);
    Py_XDECREF(self->nodefault);
    Py_XDECREF(self->fallback);
    Py_XDECREF(self->envelope);
    Py_XDECREF(self->decode_frame);
    Py_XDECREF(self->event_kind);
    Py_XDECREF(self->list_kind);
    Py_XDECREF(self->vars);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define FALLBACK ((PyObject *)1) /* "let the Python decoder do it" */

static int
digits(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9')
        q++;
    return (int)(q - p);
}

/* int | None from str, only where msgspec.convert(strict=False) surely agrees */
static PyObject *
to_int(PyObject *v)
{
    if (!PyUnicode_IS_ASCII(v))
        return FALLBACK;
    const char *p = (const char *)PyUnicode_1BYTE_DATA(v);
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    const char *end = p + n, *q = p;
    if (q < end && *q == '-')
        q++;
    int d = digits(q, end);
    if (d == 0 || d > 18 || q + d != end || (*q == '0' && (d > 1 || q != p)))
        return FALLBACK;
    return PyLong_FromLongLong(strtoll(p, NULL, 10));
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* float | None from str, only where msgspec.convert(strict=False) surely agrees:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)? with at most 17 digits, not "-0" (msgspec reads an int: 0.0) */
static PyObject *
to_float(PyObject *v)
{
    if (!PyUnicode_IS_ASCII(v))
        return FALLBACK;
    const char *p = (const char *)PyUnicode_1BYTE_DATA(v);
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    const char *end = p + n, *q = p;
    if (q < end && *q == '-')
        q++;
    int d = digits(q, end);
    if (d == 0 || (*q == '0' && d > 1))
        return FALLBACK;
    int total = d, frac = 0;
    const char *r = q + d;
    if (r < end) {
        if (*r != '.')
            return FALLBACK;
        frac = digits(r + 1, end);
        if (frac == 0 || r + 1 + frac != end)
            return FALLBACK;
        total += frac;
    }
    else if (q != p && d == 1 && *q == '0')
        return FALLBACK;
    if (total > 17)
        return FALLBACK;
    int64_t m = 0;
    for (const char *c = q; c < end; c++)
        if (*c != '.')
            m = m * 10 + (*c - '0');
    if (m <= ((int64_t)1 << 53)) {
        /* exact mantissa and power of ten: one correctly rounded division (Clinger) */
        double x = (double)m / POW10[frac];
        return PyFloat_FromDouble(q != p ? -x : x);
    }
    double x = PyOS_string_to_double(p, NULL, NULL);
    if (x == -1.0 && PyErr_Occurred())
        return NULL;
    return PyFloat_FromDouble(x);
}

/* "NAME=value" into dict d (split on the first "="; a bare NAME maps to ""). The split is
 * cached per string: the header strings are shared by the parser's line cache, and so the
 * name and value strings are shared by the events. */
static int
set_var(Decoder *self, PyObject *d, PyObject *v)
{
    PyObject *pair = PyDict_GetItemWithError(self->vars, v);
    if (pair == NULL) {
        if (PyErr_Occurred())
            return -1;
        Py_ssize_t eq = PyUnicode_FindChar(v, '=', 0, PyUnicode_GET_LENGTH(v), 1);
        if (eq == -2)
            return -1;
        PyObject *name, *val;
        if (eq < 0) {
            name = Py_NewRef(v);
            val = PyUnicode_New(0, 0);
        }
        else {
            name = PyUnicode_Substring(v, 0, eq);
            val = PyUnicode_Substring(v, eq + 1, PyUnicode_GET_LENGTH(v));
        }
        if (name == NULL || val == NULL) {
            Py_XDECREF(name);
            Py_XDECREF(val);
            return -1;
        }
        pair = PyTuple_Pack(2, name, val);
        Py_DECREF(name);
        Py_DECREF(val);
        if (pair == NULL)
            return -1;
        if (PyUnicode_GET_LENGTH(v) > CACHE_MAX_LINE) { /* not cached: bounded memory */
            int rc = PyDict_SetItem(d, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
            Py_DECREF(pair);
            return rc;
        }
        if (PyDict_GET_SIZE(self->vars) >= VARS_MAX)
            PyDict_Clear(self->vars);
        int rc = PyDict_SetItem(self->vars, v, pair);
        Py_DECREF(pair); /* the cache holds it */
        if (rc < 0)
            return -1;
    }
    return PyDict_SetItem(d, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
}

/* ChanVariable(<channel>): scoped variables, or an error (-1) */
static int
is_scope_key(PyObject *k)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(k);
    if (PyUnicode_READ_CHAR(k, n - 1) != ')')
        return 0;
    return (int)PyUnicode_Tailmatch(k, str_scope, 0, n, -1);
}

/* scoped_vars[channel][NAME] = value for a "ChanVariable(<channel>): NAME=value" header */
static int
add_scoped(Decoder *self, PyObject **scoped, PyObject *k, PyObject *v)
{
    if (*scoped == NULL && (*scoped = PyDict_New()) == NULL)
        return -1;
    PyObject *channel =
        PyUnicode_Substring(k, PyUnicode_GET_LENGTH(str_scope), PyUnicode_GET_LENGTH(k) - 1);
    if (channel == NULL)
        return -1;
    PyObject *vars = PyDict_GetItemWithError(*scoped, channel);
    int rc = -1;
    if (vars != NULL)
        rc = set_var(self, vars, v);
    else if (!PyErr_Occurred() && (vars = PyDict_New()) != NULL) {
        rc = set_var(self, vars, v);
        if (rc == 0)
            rc = PyDict_SetItem(*scoped, channel, vars);
        Py_DECREF(vars);
    }
    Py_DECREF(channel);
    return rc;
}

static PyObject *
decode_fast(Decoder *self, PyObject *headers)
{
    if (!PyTuple_CheckExact(headers))
        return FALLBACK;
    Py_ssize_t n = PyTuple_GET_SIZE(headers);
    if (n == 0)
        return FALLBACK;
    PyObject *first = PyTuple_GET_ITEM(headers, 0);
    if (!PyTuple_CheckExact(first) || PyTuple_GET_SIZE(first) != 2)
        return FALLBACK;
    PyObject *k0 = PyTuple_GET_ITEM(first, 0), *name = PyTuple_GET_ITEM(first, 1);
    if (!PyUnicode_CheckExact(k0) || !PyUnicode_CheckExact(name))
        return FALLBACK;
    if (k0 != str_event && PyUnicode_Compare(k0, str_event) != 0)
        return FALLBACK;
    PyObject *capsule = class_entry(self, name);
    if (capsule == NULL)
        return NULL;
    if (capsule == Py_None)
        return FALLBACK;
    ClassInfo *ci = PyCapsule_GetPointer(capsule, NULL);
    if (ci == NULL)
        return NULL;

    PyObject *values[MAX_FIELDS];
    memset(values, 0, sizeof(PyObject *) * (size_t)ci->nfields);
    PyObject *extra = NULL, *scoped = NULL, *result = FALLBACK;
    for (Py_ssize_t i = 1; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(headers, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2)
            goto done;
        PyObject *k = PyTuple_GET_ITEM(pair, 0), *v = PyTuple_GET_ITEM(pair, 1);
        if (!PyUnicode_CheckExact(k) || !PyUnicode_CheckExact(v))
            goto done;
        Py_ssize_t f = wire_index(ci, k);
        if (f == -2) {
            result = NULL;
            goto done;
        }
        if (f == -1) {
            /* not modelled: to extra, unless it needs the Python rules */
            if (PyUnicode_GET_LENGTH(k) == 0 || PyUnicode_READ_CHAR(k, 0) == '_' ||
                PyUnicode_Compare(k, str_event) == 0)
                goto done; /* "__extra__", "Event" again: the Python rules */
            int scope = is_scope_key(k);
            if (scope < 0) {
                result = NULL;
                goto done;
            }
            if (scope) { /* ChanVariable(<channel>): NAME=value -> scoped_vars[channel] */
                if (add_scoped(self, &scoped, k, v) < 0) {
                    result = NULL;
                    goto done;
                }
                continue;
            }
            if (extra == NULL && (extra = PyDict_New()) == NULL) {
                result = NULL;
                goto done;
            }
            int has = PyDict_Contains(extra, k);
            if (has != 0) {
                if (has < 0)
                    result = NULL;
                goto done; /* repeated: joined by the Python decoder */
            }
            if (PyDict_SetItem(extra, k, v) < 0) {
                result = NULL;
                goto done;
            }
            continue;
        }
        Field *spec = &ci->fields[f];
        PyObject *conv;
        switch (spec->kind) {
        case K_DICT:
            if (values[f] == NULL && (values[f] = PyDict_New()) == NULL) {
                result = NULL;
                goto done;
            }
            if (set_var(self, values[f], v) < 0) {
                result = NULL;
                goto done;
            }
            continue;
        case K_LIST:
            if (values[f] == NULL && (values[f] = PyList_New(0)) == NULL) {
                result = NULL;
                goto done;
            }
            if (PyList_Append(values[f], v) < 0) {
                result = NULL;
                goto done;
            }
            continue;
        case K_STR:
            conv = Py_NewRef(v);
            break;
        case K_INT:
            conv = to_int(v);
            break;
        case K_FLOAT:
            conv = to_float(v);
            break;
        case K_ENUM:
            conv = PyDict_GetItemWithError(spec->enum_map, v);
            if (conv == NULL)
                conv = PyErr_Occurred() ? NULL : FALLBACK;
            else
                Py_INCREF(conv);
            break;
        default:
            goto done;
        }
        if (conv == NULL || conv == FALLBACK) {
            result = conv;
            goto done;
        }
        if (values[f] != NULL) { /* a single-valued header repeats */
            Py_DECREF(conv);
            goto done;
        }
        values[f] = conv;
    }
    for (Py_ssize_t f = 0; f < ci->nfields; f++) {
        if (ci->fields[f].kind == K_EXTRA && extra != NULL) {
            values[f] = extra;
            extra = NULL;
        }
        else if (ci->fields[f].kind == K_SCOPED && scoped != NULL) {
            values[f] = scoped;
            scoped = NULL;
        }
    }
    if (extra != NULL || scoped != NULL)
        goto done; /* the class has nowhere to put them: the Python rules */
    if (ci->direct) {
        /* what the class's __init__ would do: every slot set, defaults for the rest */
        PyTypeObject *tp = (PyTypeObject *)ci->cls;
        PyObject *obj = tp->tp_alloc(tp, 0);
        if (obj == NULL) {
            result = NULL;
            goto done;
        }
        for (Py_ssize_t f = 0; f < ci->nfields; f++) {
            PyObject *value = values[f];
            values[f] = NULL;
            if (value == NULL && (value = field_default(&ci->fields[f])) == NULL) {
                Py_DECREF(obj); /* the slots not set yet are NULL */
                result = NULL;
                goto done;
            }
            SLOT(obj, ci->fields[f].offset) = value;
        }
        result = obj;
        goto done;
    }
    {
        /* keyword arguments in field order: msgspec matches them in one sweep */
        PyObject *args[MAX_FIELDS + 1];
        Py_ssize_t nkw = 0;
        for (Py_ssize_t f = 0; f < ci->nfields; f++)
            if (values[f] != NULL)
                args[1 + nkw++] = values[f];
        if (nkw == 0) {
            result = PyObject_Vectorcall(ci->cls, args + 1, 0, NULL);
            goto done;
        }
        PyObject *kwnames = PyTuple_New(nkw);
        if (kwnames == NULL) {
            result = NULL;
            goto done;
        }
        for (Py_ssize_t f = 0, j = 0; f < ci->nfields; f++)
            if (values[f] != NULL)
                PyTuple_SET_ITEM(kwnames, j++, Py_NewRef(ci->fields[f].name));
        result = PyObject_Vectorcall(ci->cls, args + 1, PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
        Py_DECREF(kwnames);
    }
done:
    for (Py_ssize_t f = 0; f < ci->nfields; f++)
        Py_XDECREF(values[f]);
    Py_XDECREF(extra);
    Py_XDECREF(scoped);
    return result;
}

static PyObject *
Decoder_decode(Decoder *self, PyObject *headers)
{
    PyObject *r = decode_fast(self, headers);
    if (r == FALLBACK)
        return PyObject_CallOneArg(self->fallback, headers);
    return r;
}

/* envelopes(): one Envelope per frame, as tracker.events.decode.envelopes */
typedef struct {
    PyObject_HEAD
    Decoder *decoder;
    PyObject *frames; /* iterator */
    Py_ssize_t seq;
    PyObject *received_at;
} Envelopes;

static PyTypeObject EnvelopesType;

static void
Envelopes_dealloc(Envelopes *self)
{
    PyObject_GC_UnTrack(self);
    Py_XDECREF(self->decoder);
    Py_XDECREF(self->frames);
    Py_XDECREF(self->received_at);
    PyObject_GC_Del(self);
}

static int
Envelopes_traverse(Envelopes *self, visitproc visit, void *arg)
{
    Py_VISIT(self->decoder);
    Py_VISIT(self->frames);
    Py_VISIT(self->received_at);
    return 0;
}

static PyObject *
Envelopes_next(Envelopes *self)
{
    PyObject *frame = PyIter_Next(self->frames);
    if (frame == NULL)
        return NULL;
    Decoder *dec = self->decoder;
    PyObject *kind, *item = NULL, *env = NULL;
    if (Py_IS_TYPE(frame, frame_type))
        kind = Py_XNewRef(SLOT(frame, off_kind));
    else
        kind = PyObject_GetAttrString(frame, "kind");
    if (kind == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "kind");
        goto done;
    }
    if (kind == dec->event_kind || kind == dec->list_kind) {
        PyObject *headers = Py_IS_TYPE(frame, frame_type)
                                ? Py_XNewRef(SLOT(frame, off_headers))
                                : PyObject_GetAttrString(frame, "headers");
        if (headers == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_AttributeError, "headers");
            goto done;
        }
        item = Decoder_decode(dec, headers);
        Py_DECREF(headers);
    }
    else
        item = PyObject_CallOneArg(dec->decode_frame, frame);
    if (item == NULL)
        goto done;
    PyObject *seq = PyLong_FromSsize_t(self->seq);
    if (seq == NULL)
        goto done;
    PyTypeObject *etype = (PyTypeObject *)dec->envelope;
    PyObject *problem = Py_IS_TYPE(frame, frame_type) ? Py_XNewRef(SLOT(frame, off_problem))
                                                      : PyObject_GetAttrString(frame, "problem");
    if (problem == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "problem");
        Py_DECREF(seq);
        goto done;
    }
    env = etype->tp_alloc(etype, 5);
    if (env == NULL) {
        Py_DECREF(seq);
        Py_DECREF(problem);
        goto done;
    }
    PyTupleObject *t = (PyTupleObject *)env;
    t->ob_item[0] = seq;
    t->ob_item[1] = item;
    item = NULL;
    t->ob_item[2] = Py_NewRef(kind == dec->list_kind ? Py_True : Py_False);
    t->ob_item[3] = Py_NewRef(self->received_at);
    t->ob_item[4] = problem; /* Frame.problem (an str or None): never part of a cycle */
    if (!PyObject_IS_GC(t->ob_item[1]) && !PyObject_IS_GC(self->received_at))
        PyObject_GC_UnTrack(env); /* nothing in it can be part of a cycle: the GC would untrack it */
    self->seq++;
done:
    Py_XDECREF(item);
    Py_XDECREF(kind);
    Py_DECREF(frame);
    return env;
}

static PyTypeObject EnvelopesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracker.ami._speedups.Envelopes",
    .tp_basicsize = sizeof(Envelopes),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)Envelopes_dealloc,
    .tp_traverse = (traverseproc)Envelopes_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Envelopes_next,
};

static PyObject *
Decoder_envelopes(Decoder *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"frames", "start_seq", "received_at", NULL};
    PyObject *frames, *received_at = Py_None;
    Py_ssize_t start_seq = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|nO", kwlist, &frames, &start_seq,
                                     &received_at))
        return NULL;
    PyObject *it = PyObject_GetIter(frames);
    if (it == NULL)
        return NULL;
    Envelopes *e = PyObject_GC_New(Envelopes, &EnvelopesType);
    if (e == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    e->decoder = (Decoder *)Py_NewRef(self);
    e->frames = it;
    e->seq = start_seq;
    e->received_at = Py_NewRef(received_at);
    PyObject_GC_Track(e);
    return (PyObject *)e;
}

static PyMethodDef Decoder_methods[] = {
    {"envelopes", (PyCFunction)(void (*)(void))Decoder_envelopes, METH_VARARGS | METH_KEYWORDS,
     "envelopes(frames, start_seq=0, received_at=None): as tracker.events.envelopes."},
    {"decode", (PyCFunction)Decoder_decode, METH_O,
     "Typed event for an Event: frame's headers (same result as the Python decode_headers)."},
    {NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tracker.ami._speedups.EventDecoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "EventDecoder(spec_of, nodefault, fallback, Envelope, decode_frame, event_kind, "
              "list_kind): compiled decode_headers and envelopes.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
};

/* ---------------------------------------------------------------------------------------- */
/* columns of a batch for the event store (tracker/store/packed.py; its Python code is the   */
/* reference): one pass over the frames and one over their envelopes instead of one C-level  */
/* map() per column.                                                                          */

static PyObject *str_timestamp_attr = NULL;
static PyObject *str_empty = NULL;

/* frame_columns(frames: list[Frame], kinds: tuple[FrameKind, ...], anomaly: int)
 * -> (raw: bytes, lengths: bytes (u32, native order), codes: bytes, problems: dict)
 * A kind's code is its index in ``kinds``; problems: {i: problem or ""} for frames of code
 * ``anomaly``, {i: problem} for other frames with a non-empty problem. */
static PyObject *
frame_columns(PyObject *self, PyObject *args)
{
    PyObject *frames, *kinds;
    int anomaly;
    if (!PyArg_ParseTuple(args, "O!O!i", &PyList_Type, &frames, &PyTuple_Type, &kinds, &anomaly))
        return NULL;
    if (frame_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the compiled codec is not configured");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(frames), nk = PyTuple_GET_SIZE(kinds), total = 0;
    if (nk > 255) {
        PyErr_SetString(PyExc_ValueError, "too many kinds");
        return NULL;
    }
    PyObject *lengths = PyBytes_FromStringAndSize(NULL, n * 4);
    PyObject *codes = PyBytes_FromStringAndSize(NULL, n);
    PyObject *problems = PyDict_New();
    PyObject *raw_all = NULL;
    if (lengths == NULL || codes == NULL || problems == NULL)
        goto fail;
    uint32_t *lp = (uint32_t *)PyBytes_AS_STRING(lengths);
    unsigned char *cp = (unsigned char *)PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = PyList_GET_ITEM(frames, i);
        if (!Py_IS_TYPE(f, frame_type)) {
            PyErr_SetString(PyExc_TypeError, "not a Frame");
            goto fail;
        }
        PyObject *raw = SLOT(f, off_raw), *kind = SLOT(f, off_kind), *problem = SLOT(f, off_problem);
        if (raw == NULL || !PyBytes_CheckExact(raw)) {
            PyErr_SetString(PyExc_TypeError, "Frame.raw is not bytes");
            goto fail;
        }
        Py_ssize_t len = PyBytes_GET_SIZE(raw);
        if ((size_t)len > UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "frame over 4 GiB");
            goto fail;
        }
        lp[i] = (uint32_t)len;
        total += len;
        Py_ssize_t j = 0;
        while (j < nk && PyTuple_GET_ITEM(kinds, j) != kind)
            j++;
        if (j == nk) {
            PyErr_SetString(PyExc_ValueError, "a frame of an unknown kind");
            goto fail;
        }
        cp[i] = (unsigned char)j;
        int has = 0;
        if (problem != NULL && problem != Py_None) {
            has = PyObject_IsTrue(problem);
            if (has < 0)
                goto fail;
        }
        if (has || j == anomaly) {
            PyObject *key = PyLong_FromSsize_t(i);
            PyObject *value = has ? problem : str_empty;
            if (key == NULL || PyDict_SetItem(problems, key, value) < 0) {
                Py_XDECREF(key);
                goto fail;
            }
            Py_DECREF(key);
        }
    }
    raw_all = PyBytes_FromStringAndSize(NULL, total);
    if (raw_all == NULL)
        goto fail;
    char *out = PyBytes_AS_STRING(raw_all);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *raw = SLOT(PyList_GET_ITEM(frames, i), off_raw);
        memcpy(out, PyBytes_AS_STRING(raw), lp[i]);
        out += lp[i];
    }
    return Py_BuildValue("(NNNN)", raw_all, lengths, codes, problems);
fail:
    Py_XDECREF(lengths);
    Py_XDECREF(codes);
    Py_XDECREF(problems);
    Py_XDECREF(raw_all);
    return NULL;
}

/* envelope_columns(envelopes: list[Envelope], codes: bytes, event: int, wanted: frozenset | None)
 * -> (received: list | None, live: int, stamped: int, records: list[int] | None)
 * received: every envelope's receive time (None when all are None); live: frames of code
 * ``event``; stamped: those whose item has a timestamp or that have a receive time; records:
 * indexes of the envelopes whose item's exact type is in ``wanted``. */
static PyObject *
envelope_columns(PyObject *self, PyObject *args)
{
    PyObject *envs, *codes, *wanted;
    int event;
    if (!PyArg_ParseTuple(args, "O!O!iO", &PyList_Type, &envs, &PyBytes_Type, &codes, &event,
                          &wanted))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(envs);
    if (PyBytes_GET_SIZE(codes) != n) {
        PyErr_SetString(PyExc_ValueError, "one code per envelope");
        return NULL;
    }
    if (wanted != Py_None && !PyFrozenSet_CheckExact(wanted)) {
        PyErr_SetString(PyExc_TypeError, "wanted must be a frozenset or None");
        return NULL;
    }
    const unsigned char *cp = (const unsigned char *)PyBytes_AS_STRING(codes);
    PyObject *received = PyList_New(n);
    PyObject *records = wanted == Py_None ? Py_NewRef(Py_None) : PyList_New(0);
    if (received == NULL || records == NULL)
        goto fail;
    Py_ssize_t live = 0, stamped = 0, timed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *env = PyList_GET_ITEM(envs, i);
        if (!PyTuple_Check(env) || PyTuple_GET_SIZE(env) < 4) {
            PyErr_SetString(PyExc_TypeError, "not an Envelope");
            goto fail;
        }
        PyObject *item = PyTuple_GET_ITEM(env, 1), *at = PyTuple_GET_ITEM(env, 3);
        PyList_SET_ITEM(received, i, Py_NewRef(at));
        timed += at != Py_None;
        if (cp[i] == event) {
            live++;
            if (at != Py_None) {
                stamped++;
            } else {
                PyObject *ts = PyObject_GetAttr(item, str_timestamp_attr);
                if (ts == NULL)
                    goto fail;
                stamped += ts != Py_None;
                Py_DECREF(ts);
            }
        }
        if (wanted != Py_None) {
            int in = PySet_Contains(wanted, (PyObject *)Py_TYPE(item));
            if (in < 0)
                goto fail;
            if (in) {
                PyObject *key = PyLong_FromSsize_t(i);
                if (key == NULL || PyList_Append(records, key) < 0) {
                    Py_XDECREF(key);
                    goto fail;
                }
                Py_DECREF(key);
            }
        }
    }
    if (!timed)
        Py_SETREF(received, Py_NewRef(Py_None));
    return Py_BuildValue("(NnnN)", received, live, stamped, records);
fail:
    Py_XDECREF(received);
    Py_XDECREF(records);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(Frame, kind_by_first_key, build_frame, banner_frame, anomaly_frame)"},
    {"frame_columns", frame_columns, METH_VARARGS,
     "frame_columns(frames, kinds, anomaly) -> (raw, lengths, codes, problems)"},
    {"envelope_columns", envelope_columns, METH_VARARGS,
     "envelope_columns(envelopes, codes, event, wanted) -> (received, live, stamped, records)"},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tracker.ami._speedups",
    .m_doc = "Compiled framing and decoding; tracker.ami.parser and tracker.events.decode "
             "are the reference.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&ParserType) < 0 || PyType_Ready(&DecoderType) < 0 ||
        PyType_Ready(&EnvelopesType) < 0)
        return NULL;
    str_timestamp = PyUnicode_InternFromString("Timestamp");
    str_actionid = PyUnicode_InternFromString("ActionID");
    str_event = PyUnicode_InternFromString("Event");
    str_scope = PyUnicode_InternFromString("ChanVariable(");
    str_timestamp_attr = PyUnicode_InternFromString("timestamp");
    str_empty = PyUnicode_InternFromString("");
    if (str_empty == NULL || str_timestamp_attr == NULL || str_timestamp == NULL || str_actionid == NULL || str_event == NULL || str_scope == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "FrameParser", (PyObject *)&ParserType) < 0 ||
        PyModule_AddObjectRef(m, "EventDecoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
