/*
 * Native per-block hook for unicorn: counts guest instructions and ends
 * time slices.
 *
 * Why C: a Python callback per basic block costs ~0.6 us and makes a 0.3 s
 * program take 10 s (FACTS.md). This hook runs at the start of every block.
 * It adds the block's instruction count to a running total, which is the
 * emulator's deterministic measure of guest work (the virtual clock, the
 * scheduler's time slices and the instruction budget are all expressed in
 * it), and stops the CPU once the total reaches the deadline.
 *
 * For the call path (emulator/calls.py) it also records function entries:
 * blocks starting at an address of a sorted list given from Python are
 * flagged when decoded, and each run of one appends an entry_record (count,
 * pc, RSP, return address, R14 and its g's stack bounds, argument registers)
 * to a growable buffer, fed at each syscall and slice end to a CallEngine:
 * the call path's frame chains (turned into CallEvents) and the watchers of
 * runtime functions, so Python runs per shown call and per watched entry only.
 *
 * A block's instruction count comes from a direct-mapped cache keyed by
 * (address, size); on a miss capstone decodes the block once, so the total
 * is exact at the cost of one lookup per block. unicorn's and capstone's
 * functions arrive as pointers (from their Python bindings' libraries), so
 * this module links against neither.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif

#define CACHE_SLOTS 65536 /* power of two */

#define MAX_BLOCK_BYTES 16384

typedef int (*stop_fn)(void *uc);
typedef int (*mem_read_fn)(void *uc, uint64_t address, void *bytes, uint64_t size);
typedef int (*cs_disasm_iter_fn)(size_t handle, const uint8_t **code, size_t *size, uint64_t *address,
                                 void *insn);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);
typedef int (*reg_read_batch_fn)(void *uc, const int *regs, void **vals, int count);

/* Instruction counts fit in 31 bits; the top bit marks a block that starts a
 * function whose entries are recorded. */
#define ENTRY_FLAG 0x80000000u
#define COUNT_MASK 0x7fffffffu
#define ENTRY_REGS 6 /* RSP, R14 (g), RAX, RBX, RCX, RDI: stack, goroutine, first arguments */

struct block_entry {
    uint64_t address;
    uint32_t size;
    uint32_t instructions;
};

/* Mirrored by emulator.cpu.WorkCounter (ctypes); keep the layouts equal. */
struct work_counter {
    uint64_t instructions; /* guest instructions started since the machine began */
    uint64_t blocks;       /* guest blocks started */
    uint64_t deadline;     /* stop the CPU once instructions reaches this */
    uint64_t expired;      /* set when this hook stopped the CPU */
    stop_fn stop;          /* uc_emu_stop */
    mem_read_fn mem_read;  /* uc_mem_read */
    cs_disasm_iter_fn disasm_iter; /* capstone's cs_disasm_iter */
    void *insn;            /* its one cs_insn (cs_malloc): no allocation per decoded block */
    size_t capstone;       /* a capstone handle for x86-64, details off */
    uint64_t decoded;      /* blocks decoded (cache misses) */
    reg_write_fn reg_write;/* uc_reg_write, for RDTSC's result */
    int32_t rax, rdx, rcx; /* unicorn's ids of RAX, RDX and RCX */
    int32_t rbp;           /* and of RBP, for the frame-pointer chain */
    uint64_t tsc_per_instruction;
    /* Function-entry recording (see record_entry); all zero when off. */
    const uint64_t *entries;        /* sorted entry addresses to record */
    const uint64_t *entry_ends;     /* the end of the function each entry starts */
    uint64_t entry_count;
    struct entry_record *records;   /* grown with realloc, emptied by drain_entries */
    uint64_t record_count, record_capacity;
    uint64_t previous_block;        /* start of the block that ran before this one */
    reg_read_batch_fn reg_read_batch;
    int32_t entry_regs[ENTRY_REGS];
    struct block_entry cache[CACHE_SLOTS];
};

/* One function entry as seen at the start of its first block. Mirrored by
 * emulator.cpu.ENTRY_RECORD (a struct format); keep them equal. */
struct entry_record {
    uint64_t instructions; /* including this block */
    uint64_t pc;
    uint64_t from;          /* the block that jumped or called here */
    uint64_t return_address;/* the word at RSP (the caller's pc after a call) */
    uint64_t stack_lo, stack_hi; /* g.stack of the g in R14, if R14 points at readable memory */
    uint64_t regs[ENTRY_REGS];
    uint64_t at_rax[2];     /* the two words RAX points at (a *g argument's stack bounds), else 0 */
};

static uint32_t count_instructions(struct work_counter *w, void *uc, uint64_t address, uint32_t size)
{
    static uint8_t code[MAX_BLOCK_BYTES];
    const uint8_t *next = code;
    size_t left;
    uint64_t at = address;
    uint32_t n = 0;

    if (size > MAX_BLOCK_BYTES)
        size = MAX_BLOCK_BYTES;
    if (w->mem_read(uc, address, code, size) != 0)
        return 1;
    /* cs_disasm_iter into one preallocated cs_insn: cs_disasm would allocate and clear an array
     * for every block, which was a quarter of a plain hello's host instructions. */
    for (left = size; left && w->disasm_iter(w->capstone, &next, &left, &at, w->insn); n++)
        ;
    w->decoded++;
    return n ? n : 1;
}

static int64_t find_entry(const struct work_counter *w, uint64_t address)
{
    uint64_t lo = 0, hi = w->entry_count;

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (w->entries[mid] < address)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->entry_count && w->entries[lo] == address ? (int64_t)lo : -1;
}

/* Append an entry record. Only blocks flagged at decode time get here, so a
 * run that records nothing pays one bit test per block. */
static void record_entry(struct work_counter *w, void *uc, uint64_t address)
{
    struct entry_record *r;
    void *vals[ENTRY_REGS];
    uint64_t g_stack[2];
    int i;

    /* A loop whose head is the entry (Go's `for {}` in a leaf) comes back from inside the
     * function at the same RSP each time: one record for it is enough. */
    if (w->record_count) {
        const struct entry_record *last = &w->records[w->record_count - 1];
        int64_t at;

        if (last->pc == address && w->previous_block == address)
            return; /* a one-block loop: it ran itself again */
        at = find_entry(w, address);
        if (last->pc == address && at >= 0 && w->previous_block >= address
            && w->previous_block < w->entry_ends[at]) {
            uint64_t rsp = 0;
            int rsp_id = w->entry_regs[0];
            void *val = &rsp;
            w->reg_read_batch(uc, &rsp_id, &val, 1);
            if (rsp == last->regs[0])
                return;
        }
    }
    if (w->record_count == w->record_capacity) {
        uint64_t capacity = w->record_capacity ? 2 * w->record_capacity : 4096;
        struct entry_record *grown = realloc(w->records, capacity * sizeof *grown);
        if (!grown)
            return; /* out of host memory: this entry goes unrecorded */
        w->records = grown;
        w->record_capacity = capacity;
    }
    r = &w->records[w->record_count++];
    r->instructions = w->instructions;
    r->pc = address;
    r->from = w->previous_block;
    for (i = 0; i < ENTRY_REGS; i++) {
        r->regs[i] = 0;
        vals[i] = &r->regs[i];
    }
    w->reg_read_batch(uc, w->entry_regs, vals, ENTRY_REGS);
    r->return_address = 0;
    w->mem_read(uc, r->regs[0], &r->return_address, 8);
    r->stack_lo = r->stack_hi = 0;
    if (r->regs[1] && w->mem_read(uc, r->regs[1], g_stack, sizeof g_stack) == 0) {
        r->stack_lo = g_stack[0];
        r->stack_hi = g_stack[1];
    }
    if (!r->regs[2] || w->mem_read(uc, r->regs[2], r->at_rax, sizeof r->at_rax) != 0)
        r->at_rax[0] = r->at_rax[1] = 0;
}

static void on_block(void *uc, uint64_t address, uint32_t size, void *user_data)
{
    struct work_counter *w = user_data;
    struct block_entry *e;

    /* Stopping here abandons this block before it runs (RIP stays at its
     * start), so a block is counted only when it is allowed to run. */
    if (w->instructions >= w->deadline) {
        if (!w->expired) {
            w->expired = 1;
            w->stop(uc);
        }
        return;
    }
    e = &w->cache[(address ^ (address >> 13)) & (CACHE_SLOTS - 1)];
    if (e->address != address || e->size != size) {
        e->address = address;
        e->size = size;
        e->instructions = count_instructions(w, uc, address, size) & COUNT_MASK;
        if (w->entry_count && find_entry(w, address) >= 0)
            e->instructions |= ENTRY_FLAG;
    }
    w->instructions += e->instructions & COUNT_MASK;
    w->blocks++;
    if (e->instructions & ENTRY_FLAG)
        record_entry(w, uc, address);
    w->previous_block = address;
}

/* UC_HOOK_INSN for RDTSC: EDX:EAX = the virtual TSC, a function of the
 * instruction count. Native because every vDSO clock read executes one. */
static int on_rdtsc(void *uc, void *user_data)
{
    struct work_counter *w = user_data;
    uint64_t tsc = w->instructions * w->tsc_per_instruction;
    uint64_t low = tsc & 0xffffffffu, high = tsc >> 32;

    w->reg_write(uc, w->rax, &low);
    w->reg_write(uc, w->rdx, &high);
    return 1; /* the instruction is done: skip it */
}

/* UC_HOOK_INSN for RDTSCP: the same virtual TSC, and ECX = TSC_AUX, which
 * Linux sets to the CPU number (0: the guest's threads share one CPU). Go's
 * cputicks prefers RDTSCP; unhooked, it reads the host's TSC. */
static int on_rdtscp(void *uc, void *user_data)
{
    struct work_counter *w = user_data;
    uint64_t aux = 0;

    on_rdtsc(uc, user_data);
    w->reg_write(uc, w->rcx, &aux);
    return 1;
}

static PyObject *rdtscp_hook_address(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromVoidPtr((void *)on_rdtscp);
}

static PyObject *rdtsc_hook_address(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromVoidPtr((void *)on_rdtsc);
}

static PyObject *block_hook_address(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromVoidPtr((void *)on_block);
}

static PyObject *cache_slots(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromLong(CACHE_SLOTS);
}

/* read_memory(counter address, uc handle, address, size) -> bytes, or None where unicorn cannot
 * read: guest memory for the syscall layer and observers without ctypes' buffer per read. */
static PyObject *read_memory(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct work_counter *w;
    void *uc;
    uint64_t address;
    Py_ssize_t size;
    PyObject *out;

    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "read_memory(counter, uc, address, size)");
        return NULL;
    }
    w = PyLong_AsVoidPtr(args[0]);
    uc = PyLong_AsVoidPtr(args[1]);
    address = PyLong_AsUnsignedLongLong(args[2]);
    size = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred())
        return NULL;
    if (!w || !uc || size < 0) {
        PyErr_SetString(PyExc_ValueError, "read_memory: no engine or a negative size");
        return NULL;
    }
    out = PyBytes_FromStringAndSize(NULL, size);
    if (!out)
        return NULL;
    if (size && w->mem_read(uc, address, PyBytes_AS_STRING(out), (uint64_t)size) != 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

/* release_entries(counter address): free the record buffer. */
static PyObject *release_entries(PyObject *self, PyObject *arg)
{
    struct work_counter *w = PyLong_AsVoidPtr(arg);

    (void)self;
    if (!w)
        return NULL;
    free(w->records);
    w->records = NULL;
    w->record_count = w->record_capacity = 0;
    Py_RETURN_NONE;
}

/* ---- The call path engine --------------------------------------------------
 *
 * emulator/calls.py states the rules (CallPath); this is their per-entry
 * part, so that Python runs only to build a CallEvent for a shown function or
 * inlined frame, to call the watchers of a watched entry, and on a cache miss
 * (a g's goid, the inlined frames and the SP delta at a call site).
 * feed_entries hands it each drained record in order: first the path, then
 * the record's watchers, as the rules require (a watcher may change what
 * goid_of answers next).
 */

#define FN_SHOWN 1
#define FN_SWITCHER 2
#define FN_IN_PLACE 4 /* runtime.systemstack: runs its function in place on a system stack */
#define FN_SIGNAL 8   /* runtime.sigtramp */

/* A hash map from non-zero uint64 keys, remembering insertion order (seq). */
struct slot {
    uint64_t key, seq;
    uint64_t a, b;
    void *p;
    uint8_t state; /* 0 empty, 1 full, 2 deleted */
};

struct map {
    struct slot *slots;
    uint64_t capacity, used, count; /* used: full or deleted */
};

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static struct slot *map_find(const struct map *m, uint64_t key)
{
    uint64_t mask, i;

    if (!m->capacity)
        return NULL;
    mask = m->capacity - 1;
    for (i = mix(key) & mask;; i = (i + 1) & mask) {
        struct slot *s = &m->slots[i];
        if (s->state == 0)
            return NULL;
        if (s->state == 1 && s->key == key)
            return s;
    }
}

static struct slot *map_claim(struct slot *slots, uint64_t capacity, uint64_t key)
{
    uint64_t mask = capacity - 1, i;

    for (i = mix(key) & mask; slots[i].state == 1; i = (i + 1) & mask)
        ;
    return &slots[i];
}

static int map_grow(struct map *m)
{
    uint64_t capacity = 16, i;
    struct slot *slots;

    while (capacity < 4 * (m->count + 1))
        capacity <<= 1;
    slots = calloc(capacity, sizeof *slots);
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < m->capacity; i++)
        if (m->slots[i].state == 1)
            *map_claim(slots, capacity, m->slots[i].key) = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->capacity = capacity;
    m->used = m->count;
    return 0;
}

/* The slot of key, added empty (a = b = 0, p = NULL) if absent; NULL when out of memory. */
static struct slot *map_put(struct map *m, uint64_t key, uint64_t *seq)
{
    struct slot *s = map_find(m, key);

    if (s)
        return s;
    if ((m->used + 1) * 2 > m->capacity && map_grow(m))
        return NULL;
    s = map_claim(m->slots, m->capacity, key);
    if (s->state == 0)
        m->used++;
    m->count++;
    s->key = key;
    s->seq = (*seq)++;
    s->a = s->b = 0;
    s->p = NULL;
    s->state = 1;
    return s;
}

static void map_free(struct map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->capacity = m->used = m->count = 0;
}

struct frame {
    int64_t fn;     /* index in the function table */
    uint64_t stack; /* the g whose stack holds the frame (0: not known) */
    int64_t offset; /* g.stack.hi - RSP at entry (or -RSP on an unknown stack): larger is deeper */
    int64_t depth;
    uint64_t tid;
    uint64_t ret;   /* the word at RSP on entry: the return address after a call */
    PyObject **inlined; /* names of the inlined frames open above it */
    uint64_t n_inlined, cap_inlined;
    uint64_t inline_pc;
};

struct chain {
    uint64_t owner; /* the g of the bottom frame; 0 if unknown */
    PyObject *goid; /* int or None */
    struct frame *frames;
    uint64_t n, cap;
    uint64_t refs; /* from the current, suspended and orphan sets */
};

typedef struct {
    PyObject_HEAD
    /* the function table, sorted by entry */
    uint64_t *entry, *end;
    uint8_t *kind;
    PyObject **name;
    Py_ssize_t count;
    PyObject *event_type, *emit, *goid_of, *inline_names, *sp_delta;
    PyObject *record_type, *watchers; /* EntryRecord; dict pc -> list of handlers */
    struct map current;   /* tid -> chain running there (p) */
    struct map suspended; /* owner g -> chain not running anywhere (p) */
    struct map bounds;    /* g -> its stack's [a, b) when last seen */
    struct map system;    /* g -> whether it is a g0/gsignal (a) */
    struct map names_at;  /* call pc -> tuple of shown inlined frames (p) */
    struct map sp;        /* call pc -> (a: known, b: SP delta) */
    struct chain **orphans;
    uint64_t n_orphans, cap_orphans;
    uint64_t seq, now, max_depth;
    int busy;
    PyObject *call, *ret; /* "call", "return" */
} Engine;

static void frame_clear(struct frame *f)
{
    uint64_t i;

    for (i = 0; i < f->n_inlined; i++)
        Py_DECREF(f->inlined[i]);
    free(f->inlined);
    f->inlined = NULL;
    f->n_inlined = f->cap_inlined = 0;
}

static void chain_decref(struct chain *c)
{
    uint64_t i;

    if (!c || --c->refs)
        return;
    for (i = 0; i < c->n; i++)
        frame_clear(&c->frames[i]);
    free(c->frames);
    Py_XDECREF(c->goid);
    free(c);
}

static int64_t function_at(const Engine *e, uint64_t pc, int containing)
{
    Py_ssize_t lo = 0, hi = e->count;

    while (lo < hi) { /* the first entry above pc */
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (e->entry[mid] <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    lo--;
    if (containing)
        return pc < e->end[lo] ? lo : -1;
    return e->entry[lo] == pc ? lo : -1;
}

static int emit_call(Engine *e, uint64_t instructions, uint64_t tid, PyObject *kind, PyObject *name,
                     int64_t depth, int inlined, uint64_t pc, PyObject *goid)
{
    PyObject *args[8], *event, *done;
    int i, status = -1;

    args[0] = PyLong_FromUnsignedLongLong(instructions);
    args[1] = PyLong_FromUnsignedLongLong(tid);
    args[2] = kind;
    args[3] = name;
    args[4] = PyLong_FromLongLong(depth);
    args[5] = inlined ? Py_True : Py_False;
    args[6] = PyLong_FromUnsignedLongLong(pc);
    args[7] = goid;
    if (args[0] && args[1] && args[4] && args[6]) {
        event = PyObject_Vectorcall(e->event_type, args, 8, NULL);
        if (event) {
            done = PyObject_CallOneArg(e->emit, event);
            Py_DECREF(event);
            if (done) {
                Py_DECREF(done);
                status = 0;
            }
        }
    }
    for (i = 0; i < 8; i++)
        if (i == 0 || i == 1 || i == 4 || i == 6)
            Py_XDECREF(args[i]);
    return status;
}

/* goid_of(g), a new reference. */
static PyObject *goid_of(Engine *e, uint64_t g)
{
    PyObject *arg = PyLong_FromUnsignedLongLong(g), *goid;

    if (!arg)
        return NULL;
    goid = PyObject_CallOneArg(e->goid_of, arg);
    Py_DECREF(arg);
    return goid;
}

/* Whether stack is a g0 or gsignal stack (goid 0); -1 on error. Cached per g for the run. */
static int is_system(Engine *e, uint64_t stack)
{
    struct slot *s;
    PyObject *goid;
    int system;

    if (!stack)
        return 1;
    s = map_find(&e->system, stack);
    if (s)
        return (int)s->a;
    goid = goid_of(e, stack);
    if (!goid)
        return -1;
    system = goid != Py_None && PyLong_Check(goid) && PyObject_Not(goid) == 1;
    Py_DECREF(goid);
    s = map_put(&e->system, stack, &e->seq);
    if (!s)
        return -1;
    s->a = (uint64_t)system;
    return system;
}

static int64_t child_depth(const Engine *e, const struct frame *f)
{
    return f->depth + ((e->kind[f->fn] & FN_SHOWN) ? 1 : 0) + (int64_t)f->n_inlined;
}

static int close_inlined(Engine *e, struct frame *f, uint64_t keep, uint64_t tid, struct chain *c)
{
    int64_t base = f->depth + ((e->kind[f->fn] & FN_SHOWN) ? 1 : 0);

    while (f->n_inlined > keep) {
        PyObject *name = f->inlined[--f->n_inlined];
        int status = emit_call(e, e->now, tid, e->ret, name, base + (int64_t)f->n_inlined, 1, f->inline_pc,
                               c->goid);
        Py_DECREF(name);
        if (status)
            return -1;
    }
    return 0;
}

/* The top frame of c has returned. */
static int pop_frame(Engine *e, struct chain *c, uint64_t tid)
{
    struct frame f = c->frames[--c->n];
    int status = 0;

    if (f.n_inlined)
        status = close_inlined(e, &f, 0, tid, c);
    if (!status && (e->kind[f.fn] & FN_SHOWN))
        status = emit_call(e, e->now, tid, e->ret, e->name[f.fn], f.depth, 0, e->entry[f.fn], c->goid);
    frame_clear(&f);
    return status;
}

/* (stack, offset) of an entry: calls.py's CallPath._locate. */
static int locate(Engine *e, const struct entry_record *r, const struct chain *c, uint64_t *stack,
                  int64_t *offset)
{
    uint64_t rsp = r->regs[0], g = r->regs[1];

    if (g && r->stack_lo <= rsp && rsp < r->stack_hi) {
        struct slot *s = map_put(&e->bounds, g, &e->seq);
        if (!s)
            return -1;
        s->a = r->stack_lo;
        s->b = r->stack_hi;
        *stack = g;
        *offset = (int64_t)(r->stack_hi - rsp);
        return 0;
    }
    if (c && c->n) {
        uint64_t top = c->frames[c->n - 1].stack;
        struct slot *s = top ? map_find(&e->bounds, top) : NULL;
        if (s && s->a <= rsp && rsp < s->b) {
            *stack = top;
            *offset = (int64_t)(s->b - rsp);
            return 0;
        }
    }
    *stack = 0;
    *offset = -(int64_t)rsp;
    return 0;
}

/* CallPath._jumped: reached other than by a call from the caller at the return address. */
static int jumped(const Engine *e, int64_t fn, const struct entry_record *r)
{
    uint64_t source = r->from, ret = r->return_address;

    if (e->entry[fn] <= source && source < e->end[fn])
        return 1;
    if (!ret)
        return 0;
    return function_at(e, source, 1) != function_at(e, ret - 1, 1);
}

/* CallPath._reentered: a loop or morestack restarting the open frame; 1 if so, -1 on error. */
static int reentered(Engine *e, struct chain *c, int64_t fn, uint64_t stack, int64_t offset, uint64_t tid)
{
    uint64_t i;

    if (!c)
        return 0;
    for (i = c->n; i-- > 0;) {
        const struct frame *f = &c->frames[i];
        if (f->fn == fn && f->stack == stack) {
            if (offset > f->offset)
                return 0;
            while (c->n > i + 1)
                if (pop_frame(e, c, tid))
                    return -1;
            return 1;
        }
    }
    return 0;
}

static int pop_returned(Engine *e, struct chain *c, uint64_t stack, int64_t offset, uint64_t tid)
{
    while (c->n && c->frames[c->n - 1].stack != stack)
        if (pop_frame(e, c, tid))
            return -1;
    while (c->n && c->frames[c->n - 1].stack == stack && c->frames[c->n - 1].offset >= offset)
        if (pop_frame(e, c, tid))
            return -1;
    return 0;
}

/* SP delta at pc (InlineTree.sp_delta, cached): 1 and *delta if known, 0 if not, -1 on error. */
static int sp_delta(Engine *e, uint64_t pc, int64_t *delta)
{
    struct slot *s = map_find(&e->sp, pc);

    if (!s) {
        PyObject *arg = PyLong_FromUnsignedLongLong(pc), *value;
        long long d = 0;
        int known;

        if (!arg)
            return -1;
        value = PyObject_CallOneArg(e->sp_delta, arg);
        Py_DECREF(arg);
        if (!value)
            return -1;
        known = value != Py_None;
        if (known)
            d = PyLong_AsLongLong(value);
        Py_DECREF(value);
        if (known && d == -1 && PyErr_Occurred())
            return -1;
        s = map_put(&e->sp, pc, &e->seq);
        if (!s)
            return -1;
        s->a = (uint64_t)known;
        s->b = (uint64_t)d;
    }
    *delta = (int64_t)s->b;
    return (int)s->a;
}

/* CallPath._pop_callers_siblings. */
static int pop_callers_siblings(Engine *e, struct chain *c, uint64_t stack, int64_t offset,
                                const struct entry_record *r, uint64_t tid)
{
    uint64_t ret = r->return_address;
    int64_t caller, delta, caller_offset;
    int known;

    if (!ret)
        return 0;
    caller = function_at(e, ret - 1, 1);
    if (caller < 0)
        return 0;
    known = sp_delta(e, ret - 1, &delta);
    if (known <= 0)
        return known;
    caller_offset = offset - 8 - delta;
    while (c->n && c->frames[c->n - 1].stack == stack) {
        const struct frame *top = &c->frames[c->n - 1];
        if (top->offset > caller_offset || (top->offset == caller_offset && top->fn != caller)) {
            if (pop_frame(e, c, tid))
                return -1;
        } else
            break;
    }
    return 0;
}

static int add_orphan(Engine *e, struct chain *c)
{
    if (e->n_orphans == e->cap_orphans) {
        uint64_t cap = e->cap_orphans ? 2 * e->cap_orphans : 16;
        struct chain **grown = realloc(e->orphans, cap * sizeof *grown);
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        e->orphans = grown;
        e->cap_orphans = cap;
    }
    c->refs++;
    e->orphans[e->n_orphans++] = c;
    return 0;
}

/* map[key] = c, taking over one reference to c. */
static int map_set_chain(Engine *e, struct map *m, uint64_t key, struct chain *c)
{
    struct slot *s = map_put(m, key, &e->seq);
    struct chain *old;

    if (!s) {
        chain_decref(c);
        return -1;
    }
    old = s->p;
    s->p = c;
    chain_decref(old);
    return 0;
}

/* Remove key from m; the chain it held (its reference now the caller's), or NULL. */
static struct chain *map_take_chain(struct map *m, uint64_t key)
{
    struct slot *s = key ? map_find(m, key) : NULL;

    if (!s)
        return NULL;
    s->state = 2;
    m->count--;
    return s->p;
}

/* CallPath._chain_for: the chain this entry belongs to, with returned frames popped (borrowed). */
static struct chain *chain_for(Engine *e, uint64_t tid, struct chain *c, uint64_t stack, int64_t offset,
                               const struct entry_record *r)
{
    struct chain *resumed, *fresh;
    PyObject *goid;

    if (c && c->n) {
        const struct frame *top = &c->frames[c->n - 1];
        uint64_t i;
        int on_stack = 0;

        if (top->stack != stack) {
            int nested = 0;
            if (e->kind[top->fn] & FN_SWITCHER) {
                nested = is_system(e, stack);
                if (nested < 0)
                    return NULL;
            }
            if (nested || top->stack == 0)
                return c;
        }
        for (i = 0; i < c->n && !on_stack; i++)
            on_stack = c->frames[i].stack == stack;
        if (on_stack) {
            if (pop_returned(e, c, stack, offset, tid) || pop_callers_siblings(e, c, stack, offset, r, tid))
                return NULL;
            return c;
        }
        if (c->owner) { /* suspended, to be resumed by its g; else its frames close at the end */
            c->refs++;
            if (map_set_chain(e, &e->suspended, c->owner, c))
                return NULL;
        } else if (add_orphan(e, c))
            return NULL;
    } else if (c)
        chain_decref(map_take_chain(&e->suspended, c->owner));
    resumed = stack ? map_take_chain(&e->suspended, stack) : NULL;
    if (resumed) {
        if (pop_returned(e, resumed, stack, offset, tid)) {
            chain_decref(resumed);
            return NULL;
        }
        return map_set_chain(e, &e->current, tid, resumed) ? NULL : resumed;
    }
    if (stack) {
        goid = goid_of(e, stack);
        if (!goid)
            return NULL;
    } else
        goid = Py_NewRef(Py_None);
    fresh = calloc(1, sizeof *fresh);
    if (!fresh) {
        Py_DECREF(goid);
        PyErr_NoMemory();
        return NULL;
    }
    fresh->owner = stack;
    fresh->goid = goid;
    fresh->refs = 1;
    return map_set_chain(e, &e->current, tid, fresh) ? NULL : fresh;
}

/* CallPath._reconcile_inlined: open/close the inlined frames of the top frame for a call from
 * call_pc; *depth is the callee's depth. */
static int reconcile_inlined(Engine *e, struct chain *c, uint64_t call_pc, uint64_t tid, int64_t *depth)
{
    struct frame *parent = &c->frames[c->n - 1];
    struct slot *s = map_find(&e->names_at, call_pc);
    PyObject *names;
    Py_ssize_t count, keep = 0, i;
    int64_t base;

    if (!s) {
        PyObject *arg = PyLong_FromUnsignedLongLong(call_pc), *found;
        if (!arg)
            return -1;
        found = PyObject_CallOneArg(e->inline_names, arg);
        Py_DECREF(arg);
        if (!found)
            return -1;
        names = PySequence_Tuple(found);
        Py_DECREF(found);
        if (!names)
            return -1;
        s = map_put(&e->names_at, call_pc, &e->seq);
        if (!s) {
            Py_DECREF(names);
            return -1;
        }
        s->p = names;
    }
    names = s->p;
    count = PyTuple_GET_SIZE(names);
    if (!count && !parent->n_inlined) {
        *depth = parent->depth + ((e->kind[parent->fn] & FN_SHOWN) ? 1 : 0);
        return 0;
    }
    while (keep < count && (uint64_t)keep < parent->n_inlined) {
        int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(names, keep), parent->inlined[keep], Py_EQ);
        if (same < 0)
            return -1;
        if (!same)
            break;
        keep++;
    }
    if (close_inlined(e, parent, (uint64_t)keep, tid, c))
        return -1;
    base = parent->depth + ((e->kind[parent->fn] & FN_SHOWN) ? 1 : 0);
    for (i = keep; i < count; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (parent->n_inlined == parent->cap_inlined) {
            uint64_t cap = parent->cap_inlined ? 2 * parent->cap_inlined : 4;
            PyObject **grown = realloc(parent->inlined, cap * sizeof *grown);
            if (!grown) {
                PyErr_NoMemory();
                return -1;
            }
            parent->inlined = grown;
            parent->cap_inlined = cap;
        }
        parent->inlined[parent->n_inlined++] = Py_NewRef(name);
        if (emit_call(e, e->now, tid, e->call, name, base + (int64_t)parent->n_inlined - 1, 1, call_pc, c->goid))
            return -1;
    }
    parent->inline_pc = call_pc;
    *depth = child_depth(e, parent);
    return 0;
}

/* CallPath's handling of one recorded entry. */
static int on_entry(Engine *e, const struct entry_record *r, uint64_t tid)
{
    int64_t fn = function_at(e, r->pc, 0), offset, depth = 0;
    struct chain *c;
    struct slot *s;
    struct frame *f;
    uint64_t stack;
    uint8_t kind;

    if (fn < 0)
        return 0;
    kind = e->kind[fn];
    if (!(kind & (FN_SHOWN | FN_SWITCHER)))
        return 0; /* recorded for a watcher (a runtime probe), not for the path */
    if (!(kind & FN_SHOWN) && (kind & FN_IN_PLACE) && r->regs[1] && r->stack_lo <= r->regs[0]
        && r->regs[0] < r->stack_hi) {
        int system = is_system(e, r->regs[1]);
        if (system)
            return system < 0 ? -1 : 0;
    }
    e->now = r->instructions;
    s = map_find(&e->current, tid);
    c = s ? s->p : NULL;
    if (locate(e, r, c, &stack, &offset))
        return -1;
    if (jumped(e, fn, r)) {
        int again = reentered(e, c, fn, stack, offset, tid);
        if (again)
            return again < 0 ? -1 : 0;
    }
    if (!((kind & FN_SIGNAL) && c && c->n)) { /* a signal's handler nests where it interrupted */
        c = chain_for(e, tid, c, stack, offset, r);
        if (!c)
            return -1;
    }
    if (c->n) {
        if (r->return_address) {
            if (reconcile_inlined(e, c, r->return_address - 1, tid, &depth))
                return -1;
        } else
            depth = child_depth(e, &c->frames[c->n - 1]);
    }
    if (c->n >= e->max_depth)
        return 0;
    if (c->n == c->cap) {
        uint64_t cap = c->cap ? 2 * c->cap : 16;
        struct frame *grown = realloc(c->frames, cap * sizeof *grown);
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        c->frames = grown;
        c->cap = cap;
    }
    f = &c->frames[c->n++];
    memset(f, 0, sizeof *f);
    f->fn = fn;
    f->stack = stack;
    f->offset = offset;
    f->depth = depth;
    f->tid = tid;
    f->ret = r->return_address;
    if (kind & FN_SHOWN)
        return emit_call(e, r->instructions, tid, e->call, e->name[fn], depth, 0, e->entry[fn], c->goid);
    return 0;
}

#define RECORD_FIELDS 14
_Static_assert(sizeof(struct entry_record) == RECORD_FIELDS * sizeof(uint64_t), "EntryRecord's fields");

/* The watchers of r's pc, called with an EntryRecord and the tid. */
static int run_watchers(Engine *e, const struct entry_record *r, PyObject *tid)
{
    PyObject *pc = PyLong_FromUnsignedLongLong(r->pc), *handlers, *fields, *packed, *record;
    uint64_t values[RECORD_FIELDS];
    Py_ssize_t i;
    int status = -1;

    if (!pc)
        return -1;
    handlers = PyDict_GetItemWithError(e->watchers, pc); /* borrowed */
    Py_DECREF(pc);
    if (!handlers)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyList_Check(handlers)) {
        PyErr_SetString(PyExc_TypeError, "watchers: each pc maps to a list of handlers");
        return -1;
    }
    Py_INCREF(handlers);
    memcpy(values, r, sizeof values);
    fields = PyTuple_New(RECORD_FIELDS);
    for (i = 0; fields && i < RECORD_FIELDS; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(values[i]);
        if (!v) {
            Py_CLEAR(fields);
            break;
        }
        PyTuple_SET_ITEM(fields, i, v);
    }
    packed = fields ? PyTuple_Pack(1, fields) : NULL;
    Py_XDECREF(fields);
    record = packed ? PyTuple_Type.tp_new((PyTypeObject *)e->record_type, packed, NULL) : NULL;
    Py_XDECREF(packed);
    if (record) {
        status = 0;
        for (i = 0; !status && i < PyList_GET_SIZE(handlers); i++) {
            PyObject *args[2] = {record, tid};
            PyObject *handler = Py_NewRef(PyList_GET_ITEM(handlers, i));
            PyObject *done = PyObject_Vectorcall(handler, args, 2, NULL);
            Py_DECREF(handler);
            if (done)
                Py_DECREF(done);
            else
                status = -1;
        }
        Py_DECREF(record);
    }
    Py_DECREF(handlers);
    return status;
}

static int Engine_traverse(Engine *e, visitproc visit, void *arg)
{
    Py_VISIT(e->event_type);
    Py_VISIT(e->emit);
    Py_VISIT(e->goid_of);
    Py_VISIT(e->inline_names);
    Py_VISIT(e->sp_delta);
    Py_VISIT(e->record_type);
    Py_VISIT(e->watchers);
    return 0;
}

static int Engine_clear(Engine *e)
{
    Py_CLEAR(e->event_type);
    Py_CLEAR(e->emit);
    Py_CLEAR(e->goid_of);
    Py_CLEAR(e->inline_names);
    Py_CLEAR(e->sp_delta);
    Py_CLEAR(e->record_type);
    Py_CLEAR(e->watchers);
    return 0;
}

static void drop_chains(Engine *e)
{
    uint64_t i;

    for (i = 0; i < e->current.capacity; i++)
        if (e->current.slots[i].state == 1)
            chain_decref(e->current.slots[i].p);
    for (i = 0; i < e->suspended.capacity; i++)
        if (e->suspended.slots[i].state == 1)
            chain_decref(e->suspended.slots[i].p);
    for (i = 0; i < e->n_orphans; i++)
        chain_decref(e->orphans[i]);
    map_free(&e->current);
    map_free(&e->suspended);
    free(e->orphans);
    e->orphans = NULL;
    e->n_orphans = e->cap_orphans = 0;
}

static void drop_table(Engine *e)
{
    Py_ssize_t i;

    for (i = 0; e->name && i < e->count; i++)
        Py_XDECREF(e->name[i]);
    free(e->entry);
    free(e->end);
    free(e->kind);
    free(e->name);
    e->entry = e->end = NULL;
    e->kind = NULL;
    e->name = NULL;
    e->count = 0;
}

static void Engine_dealloc(Engine *e)
{
    uint64_t i;

    PyObject_GC_UnTrack(e);
    Engine_clear(e);
    drop_chains(e);
    drop_table(e);
    for (i = 0; i < e->names_at.capacity; i++)
        if (e->names_at.slots[i].state == 1)
            Py_XDECREF((PyObject *)e->names_at.slots[i].p);
    map_free(&e->names_at);
    map_free(&e->bounds);
    map_free(&e->system);
    map_free(&e->sp);
    Py_XDECREF(e->call);
    Py_XDECREF(e->ret);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static PyObject *Engine_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Engine *e;

    if ((kwargs && PyDict_GET_SIZE(kwargs)) || !PyArg_ParseTuple(args, ":CallEngine")) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "CallEngine() takes no arguments");
        return NULL;
    }
    e = (Engine *)type->tp_alloc(type, 0);
    if (!e)
        return NULL;
    e->call = PyUnicode_InternFromString("call");
    e->ret = PyUnicode_InternFromString("return");
    if (!e->call || !e->ret) {
        Py_DECREF(e);
        return NULL;
    }
    return (PyObject *)e;
}

/* follow(entries, ends, kinds, names, event_type, emit, goid_of, inline_names, sp_delta, max_depth) */
static PyObject *Engine_follow(Engine *e, PyObject *args)
{
    PyObject *entries, *ends, *names, *event_type, *emit, *goid, *inline_names, *delta;
    Py_buffer kinds;
    Py_ssize_t n, i, max_depth;

    if (!PyArg_ParseTuple(args, "O!O!y*O!OOOOOn:follow", &PyList_Type, &entries, &PyList_Type, &ends, &kinds,
                          &PyList_Type, &names, &event_type, &emit, &goid, &inline_names, &delta, &max_depth))
        return NULL;
    n = PyList_GET_SIZE(entries);
    if (PyList_GET_SIZE(ends) != n || PyList_GET_SIZE(names) != n || kinds.len != n) {
        PyBuffer_Release(&kinds);
        PyErr_SetString(PyExc_ValueError, "follow: the function table's columns differ in length");
        return NULL;
    }
    drop_table(e);
    e->entry = malloc((n + 1) * sizeof *e->entry);
    e->end = malloc((n + 1) * sizeof *e->end);
    e->kind = malloc(n + 1);
    e->name = calloc(n + 1, sizeof *e->name);
    if (!e->entry || !e->end || !e->kind || !e->name) {
        PyBuffer_Release(&kinds);
        drop_table(e);
        return PyErr_NoMemory();
    }
    e->count = n;
    e->max_depth = max_depth > 0 ? (uint64_t)max_depth : 0;
    memcpy(e->kind, kinds.buf, n);
    PyBuffer_Release(&kinds);
    for (i = 0; i < n; i++) {
        e->entry[i] = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(entries, i));
        e->end[i] = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(ends, i));
        e->name[i] = Py_NewRef(PyList_GET_ITEM(names, i));
        if (i && e->entry[i] <= e->entry[i - 1] && !PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "follow: entries must be sorted and distinct");
        if (PyErr_Occurred()) {
            drop_table(e);
            return NULL;
        }
    }
    Py_XSETREF(e->event_type, Py_NewRef(event_type));
    Py_XSETREF(e->emit, Py_NewRef(emit));
    Py_XSETREF(e->goid_of, Py_NewRef(goid));
    Py_XSETREF(e->inline_names, Py_NewRef(inline_names));
    Py_XSETREF(e->sp_delta, Py_NewRef(delta));
    Py_RETURN_NONE;
}

/* watch(record_type, watchers): call watchers[pc] (a list) with record_type(record fields), tid. */
static PyObject *Engine_watch(Engine *e, PyObject *args)
{
    PyObject *record_type, *watchers;

    if (!PyArg_ParseTuple(args, "O!O!:watch", &PyType_Type, &record_type, &PyDict_Type, &watchers))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)record_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "watch: the record type must be a tuple type");
        return NULL;
    }
    Py_XSETREF(e->record_type, Py_NewRef(record_type));
    Py_XSETREF(e->watchers, Py_NewRef(watchers));
    Py_RETURN_NONE;
}

static int chain_seq_order(const void *a, const void *b)
{
    uint64_t x = ((const uint64_t *)a)[0], y = ((const uint64_t *)b)[0];
    return x < y ? -1 : x > y;
}

/* Append the chains of m to out (with a reference each) in insertion order. */
static uint64_t ordered_chains(const struct map *m, struct chain **out)
{
    uint64_t (*pairs)[2] = malloc((m->count + 1) * sizeof *pairs), n = 0, i;

    if (!pairs)
        return (uint64_t)-1;
    for (i = 0; i < m->capacity; i++)
        if (m->slots[i].state == 1) {
            pairs[n][0] = m->slots[i].seq;
            pairs[n][1] = (uint64_t)(uintptr_t)m->slots[i].p;
            n++;
        }
    qsort(pairs, n, sizeof *pairs, chain_seq_order);
    for (i = 0; i < n; i++) {
        out[i] = (struct chain *)(uintptr_t)pairs[i][1];
        out[i]->refs++;
    }
    free(pairs);
    return n;
}

/* finish(instructions): every open frame returns now, on the thread it was entered on. */
static PyObject *Engine_finish(Engine *e, PyObject *arg)
{
    uint64_t total = e->current.count + e->suspended.count + e->n_orphans, n, k, i;
    struct chain **all;
    int status = 0;

    if (e->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the call path is busy");
        return NULL;
    }
    e->now = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred())
        return NULL;
    if (!e->emit) { /* not following a path, or its callbacks cleared */
        drop_chains(e);
        Py_RETURN_NONE;
    }
    all = malloc((total + 1) * sizeof *all);
    if (!all)
        return PyErr_NoMemory();
    n = ordered_chains(&e->current, all);
    k = n == (uint64_t)-1 ? n : ordered_chains(&e->suspended, all + n);
    if (n == (uint64_t)-1 || k == (uint64_t)-1) {
        free(all);
        return PyErr_NoMemory();
    }
    n += k;
    for (i = 0; i < e->n_orphans; i++) {
        all[n] = e->orphans[i];
        all[n++]->refs++;
    }
    e->busy = 1;
    for (i = 0; i < n; i++) {
        while (!status && all[i]->n)
            status = pop_frame(e, all[i], all[i]->frames[all[i]->n - 1].tid);
        chain_decref(all[i]);
    }
    e->busy = 0;
    free(all);
    drop_chains(e);
    if (status)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef Engine_methods[] = {
    {"follow", (PyCFunction)Engine_follow, METH_VARARGS,
     "Record the call path: the function table (sorted entries, ends, kind bits, names) and callbacks."},
    {"watch", (PyCFunction)Engine_watch, METH_VARARGS, "Call watchers[pc] for each entry at a watched pc."},
    {"finish", (PyCFunction)Engine_finish, METH_O, "The run is over: close every open frame."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "emulator._native.CallEngine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The call path's frame chains and the entry watchers (emulator/calls.py).",
    .tp_new = Engine_new,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_traverse = (traverseproc)Engine_traverse,
    .tp_clear = (inquiry)Engine_clear,
    .tp_methods = Engine_methods,
};

/* Whether the frame entered at stack address `entry` (its return-address slot) is on the frame-
 * pointer chain from RBP: 1 yes, 0 no (the chain, well formed, passes it), -1 cannot tell. Go on
 * amd64 keeps frame pointers, and at a syscall instruction RBP is one (the syscall wrappers are
 * frameless assembly). */
static int on_frame_chain(struct work_counter *w, void *uc, uint64_t rbp, uint64_t rsp, uint64_t hi,
                          uint64_t entry)
{
    int steps;

    for (steps = 0; steps < 4096; steps++) {
        uint64_t next = 0;
        if (rbp < rsp || rbp + 16 > hi)
            return -1;
        if (rbp + 8 == entry)
            return 1;
        if (rbp + 8 > entry)
            return 0;
        if (w->mem_read(uc, rbp, &next, 8) != 0 || next <= rbp)
            return -1;
        rbp = next;
    }
    return -1;
}

/* The thread stopped (at a syscall or a slice end): frames on the running goroutine's stack have
 * returned when the stack pointer is above where they were entered, or when their return-address
 * slot no longer holds the address their entry saw, or (at a syscall, where RBP is a frame pointer)
 * when neither RSP nor the frame-pointer chain reaches their slot. Without this a return is only
 * seen at the next recorded entry, and a syscall made after untracked calls would show under a
 * function that already returned. The caller holds the engine busy. */
static int settle(Engine *e, struct work_counter *w, void *uc, uint64_t tid, int at_syscall)
{
    uint64_t rsp = 0, g = 0, rbp = 0, bounds[2];
    struct slot *s = map_find(&e->current, tid);
    struct chain *c = s ? s->p : NULL;
    int status = 0;

    if (!c || !c->n)
        return 0;
    {
        int ids[3] = {w->entry_regs[0], w->entry_regs[1], w->rbp}; /* RSP, R14 (the g), RBP */
        void *vals[3] = {&rsp, &g, &rbp};
        w->reg_read_batch(uc, ids, vals, 3);
    }
    if (!g || w->mem_read(uc, g, bounds, sizeof bounds) != 0 || rsp < bounds[0] || rsp >= bounds[1])
        return 0; /* not on a goroutine stack we can measure */
    e->now = w->instructions;
    while (!status && c->n) {
        const struct frame *top = &c->frames[c->n - 1];
        uint64_t slot = bounds[1] - (uint64_t)top->offset, word = 0;
        int returned;

        if (top->stack != g)
            break;
        returned = top->offset > (int64_t)(bounds[1] - rsp);
        if (!returned && top->ret)
            returned = w->mem_read(uc, slot, &word, 8) != 0 || word != top->ret;
        if (!returned && at_syscall && slot != rsp)
            returned = on_frame_chain(w, uc, rbp, rsp, bounds[1], slot) == 0;
        if (!returned)
            break;
        status = pop_frame(e, c, tid);
    }
    return status;
}

/* feed_entries(counter address, engine, uc, tid, at_syscall): the entry records since the last
 * feed, in order, through the call path (if it follows one) and the watchers, the buffer emptied;
 * then the returns the stopped thread's stack shows (settle). */
static PyObject *feed_entries(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct work_counter *w;
    Engine *e;
    void *uc;
    uint64_t tid, n, i;
    int status = 0, at_syscall;

    (void)self;
    if (nargs != 5 || !PyObject_TypeCheck(args[1], &EngineType)) {
        PyErr_SetString(PyExc_TypeError, "feed_entries(counter, engine, uc, tid, at_syscall)");
        return NULL;
    }
    w = PyLong_AsVoidPtr(args[0]);
    e = (Engine *)args[1];
    uc = PyLong_AsVoidPtr(args[2]);
    tid = PyLong_AsUnsignedLongLong(args[3]);
    at_syscall = PyObject_IsTrue(args[4]);
    if (PyErr_Occurred() || !w || !uc || at_syscall < 0)
        return NULL;
    if (e->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the call path is busy");
        return NULL;
    }
    n = w->record_count;
    w->record_count = 0; /* the guest does not run while we feed: the buffer stays as it is */
    e->busy = 1;
    Py_INCREF(e);
    for (i = 0; !status && i < n; i++) {
        const struct entry_record *r = &w->records[i];
        if (e->count && e->emit) /* no callbacks once the cycle collector cleared them */
            status = on_entry(e, r, tid);
        if (!status && e->watchers && e->record_type && PyDict_GET_SIZE(e->watchers))
            status = run_watchers(e, r, args[3]);
    }
    if (!status && e->count && e->emit)
        status = settle(e, w, uc, tid, at_syscall);
    e->busy = 0;
    Py_DECREF(e);
    if (status)
        return NULL;
    Py_RETURN_NONE;
}

/* callgrind_collect(on) -> bool: under valgrind's callgrind started with --instr-atstart=no, count
 * host instructions only between on and off. The bench measures the emulation window this way:
 * instruction counts are the same on every run, where wall time on a shared machine is not.
 * False when built without valgrind's header (then the calls do nothing). */
static PyObject *callgrind_collect(PyObject *self, PyObject *on)
{
    (void)self;
#ifdef HAVE_CALLGRIND
    if (PyObject_IsTrue(on))
        CALLGRIND_START_INSTRUMENTATION;
    else
        CALLGRIND_STOP_INSTRUMENTATION;
    Py_RETURN_TRUE;
#else
    (void)on;
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"feed_entries", (PyCFunction)(void (*)(void))feed_entries, METH_FASTCALL,
     "Hand the function-entry records since the last feed to a CallEngine, emptying the buffer, "
     "then let it close the stopped thread's frames that returned."},
    {"release_entries", release_entries, METH_O, "Free the function-entry record buffer."},
    {"callgrind_collect", callgrind_collect, METH_O,
     "Under callgrind (--instr-atstart=no): count host instructions from on to off."},
    {"read_memory", (PyCFunction)(void (*)(void))read_memory, METH_FASTCALL,
     "Guest memory through uc_mem_read, as bytes (None where unmapped)."},
    {"block_hook_address", block_hook_address, METH_NOARGS,
     "Address of the native UC_HOOK_BLOCK callback (struct work_counter as user data)."},
    {"rdtsc_hook_address", rdtsc_hook_address, METH_NOARGS,
     "Address of the native RDTSC instruction hook (struct work_counter as user data)."},
    {"rdtscp_hook_address", rdtscp_hook_address, METH_NOARGS,
     "Address of the native RDTSCP instruction hook (struct work_counter as user data)."},
    {"cache_slots", cache_slots, METH_NOARGS, "Entries in the block cache of struct work_counter."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "emulator._native", NULL, -1, methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m;

    if (PyType_Ready(&EngineType) < 0)
        return NULL;
    m = PyModule_Create(&module);
    if (m && PyModule_AddObjectRef(m, "CallEngine", (PyObject *)&EngineType) < 0)
        Py_CLEAR(m);
    return m;
}
