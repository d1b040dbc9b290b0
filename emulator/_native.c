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
 * A block's instruction count comes from a direct-mapped cache keyed by
 * (address, size); on a miss capstone decodes the block once, so the total
 * is exact at the cost of one lookup per block. unicorn's and capstone's
 * functions arrive as pointers (from their Python bindings' libraries), so
 * this module links against neither.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define CACHE_SLOTS 65536 /* power of two */

#define MAX_BLOCK_BYTES 16384

typedef int (*stop_fn)(void *uc);
typedef int (*mem_read_fn)(void *uc, uint64_t address, void *bytes, uint64_t size);
typedef size_t (*cs_disasm_fn)(size_t handle, const uint8_t *code, size_t size, uint64_t address,
                               size_t count, void **insn);
typedef void (*cs_free_fn)(void *insn, size_t count);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);

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
    struct block_entry cache[CACHE_SLOTS];
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
        e->instructions = count_instructions(w, uc, address, size);
    }
    w->instructions += e->instructions;
    w->blocks++;
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

static PyMethodDef methods[] = {
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
