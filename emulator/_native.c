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
 * to a growable buffer that Python drains at each syscall and slice end.
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

#define CACHE_SLOTS 65536 /* power of two */

#define MAX_BLOCK_BYTES 16384

typedef int (*stop_fn)(void *uc);
typedef int (*mem_read_fn)(void *uc, uint64_t address, void *bytes, uint64_t size);
typedef size_t (*cs_disasm_fn)(size_t handle, const uint8_t *code, size_t size, uint64_t address,
                               size_t count, void **insn);
typedef void (*cs_free_fn)(void *insn, size_t count);
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
    cs_disasm_fn disasm;   /* capstone's cs_disasm */
    cs_free_fn disasm_free;/* capstone's cs_free */
    size_t capstone;       /* a capstone handle for x86-64, details off */
    uint64_t decoded;      /* blocks decoded (cache misses) */
    reg_write_fn reg_write;/* uc_reg_write, for RDTSC's result */
    int32_t rax, rdx, rcx; /* unicorn's ids of RAX, RDX and RCX */
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
};

static uint32_t count_instructions(struct work_counter *w, void *uc, uint64_t address, uint32_t size)
{
    static uint8_t code[MAX_BLOCK_BYTES];
    void *insn = NULL;
    size_t n;

    if (size > MAX_BLOCK_BYTES)
        size = MAX_BLOCK_BYTES;
    if (w->mem_read(uc, address, code, size) != 0)
        return 1;
    n = w->disasm(w->capstone, code, size, address, 0, &insn);
    if (n)
        w->disasm_free(insn, n);
    w->decoded++;
    return n ? (uint32_t)n : 1;
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

/* drain_entries(counter address) -> bytes: the entry records since the last
 * drain, emptied. */
static PyObject *drain_entries(PyObject *self, PyObject *arg)
{
    struct work_counter *w = PyLong_AsVoidPtr(arg);
    PyObject *out;

    (void)self;
    if (!w)
        return NULL;
    out = PyBytes_FromStringAndSize((const char *)w->records,
                                    (Py_ssize_t)(w->record_count * sizeof(struct entry_record)));
    w->record_count = 0;
    return out;
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

static PyMethodDef methods[] = {
    {"drain_entries", drain_entries, METH_O, "The function-entry records since the last drain, as bytes."},
    {"release_entries", release_entries, METH_O, "Free the function-entry record buffer."},
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
    return PyModule_Create(&module);
}
