/* Go's pc-value tables, decoded natively.
 *
 * Each function in the pclntab has tables mapping pc ranges to values (SP
 * delta, file, line, inline-tree index...). A table is a run of steps, each a
 * zig-zag varint value delta then a varint pc delta in units of the
 * instruction quantum; the value starts at -1 and a zero value delta after the
 * first step ends it (runtime/symtab.go, step). The call path and the line
 * tables decode many of them while a guest runs, where a Python loop over the
 * bytes costs more than everything else the observer does per call site.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

struct cursor {
    const uint8_t *bytes;
    Py_ssize_t pos, size;
};

/* An unsigned LEB128 varint; 0 when it runs off the end of the blob. */
static int uvarint(struct cursor *c, uint64_t *out)
{
    uint64_t value = 0;
    unsigned shift = 0;

    while (c->pos < c->size) {
        uint8_t byte = c->bytes[c->pos++];
        if (shift < 64)
            value |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *out = value;
            return 1;
        }
        shift += 7;
    }
    return 0;
}

enum step_result { STEP_OK, STEP_END, STEP_OVERRUN };

static enum step_result step(struct cursor *c, int64_t *value, uint64_t *pc, int first, uint64_t quantum)
{
    uint64_t delta, advance;

    if (!uvarint(c, &delta))
        return STEP_OVERRUN;
    if (delta == 0 && !first)
        return STEP_END;
    *value += (delta & 1) ? -(int64_t)((delta >> 1) + 1) : (int64_t)(delta >> 1);
    if (!uvarint(c, &advance))
        return STEP_OVERRUN;
    *pc += advance * quantum;
    return STEP_OK;
}

static PyObject *overrun(void)
{
    PyErr_SetString(PyExc_ValueError, "pc-value table runs off the end of the pclntab");
    return NULL;
}

/* table(blob, offset, entry, quantum) -> (ends, values): the whole table from ``offset``; a table
 * that reaches the end of the blob between steps simply ends there. */
static PyObject *table(PyObject *self, PyObject *args)
{
    Py_buffer blob;
    Py_ssize_t offset;
    unsigned long long entry, quantum;
    PyObject *ends = NULL, *values = NULL, *result = NULL;

    (void)self;
    if (!PyArg_ParseTuple(args, "y*nKK", &blob, &offset, &entry, &quantum))
        return NULL;
    struct cursor c = {blob.buf, offset < 0 ? blob.len : offset, blob.len};
    int64_t value = -1;
    uint64_t pc = entry;
    int first = 1;
    ends = PyList_New(0);
    values = PyList_New(0);
    if (!ends || !values)
        goto done;
    while (c.pos < c.size) {
        enum step_result r = step(&c, &value, &pc, first, quantum);
        if (r == STEP_END)
            break;
        if (r == STEP_OVERRUN) {
            overrun();
            goto done;
        }
        first = 0;
        PyObject *end = PyLong_FromUnsignedLongLong(pc), *v = PyLong_FromLongLong(value);
        int failed = !end || !v || PyList_Append(ends, end) < 0 || PyList_Append(values, v) < 0;
        Py_XDECREF(end);
        Py_XDECREF(v);
        if (failed)
            goto done;
    }
    result = PyTuple_Pack(2, ends, values);
done:
    Py_XDECREF(ends);
    Py_XDECREF(values);
    PyBuffer_Release(&blob);
    return result;
}

/* value(blob, offset, entry, quantum, target) -> int | None: the value at ``target``, decoding
 * only up to it; None when the table ends first. */
static PyObject *value_at(PyObject *self, PyObject *args)
{
    Py_buffer blob;
    Py_ssize_t offset;
    unsigned long long entry, quantum, target;
    PyObject *result = NULL;

    (void)self;
    if (!PyArg_ParseTuple(args, "y*nKKK", &blob, &offset, &entry, &quantum, &target))
        return NULL;
    struct cursor c = {blob.buf, offset < 0 ? blob.len : offset, blob.len};
    int64_t value = -1;
    uint64_t pc = entry;
    for (int first = 1;; first = 0) {
        enum step_result r = step(&c, &value, &pc, first, quantum);
        if (r == STEP_OVERRUN) {
            overrun();
            break;
        }
        if (r == STEP_END) {
            result = Py_NewRef(Py_None);
            break;
        }
        if (target < pc) {
            result = PyLong_FromLongLong(value);
            break;
        }
    }
    PyBuffer_Release(&blob);
    return result;
}

static PyMethodDef methods[] = {
    {"table", table, METH_VARARGS, "A whole pc-value table: (end pc of each run, its value)."},
    {"value", value_at, METH_VARARGS, "The value of a pc-value table at one pc, or None past its end."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "loader._pctab",
                                    "Go pc-value tables, decoded natively.", -1, methods};

PyMODINIT_FUNC PyInit__pctab(void)
{
    return PyModule_Create(&module);
}
