/* Word n-gram counts of a text over a vocabulary, for the compiled scorer.
 *
 * scikit-learn's default word tokenizer, re.findall(r"(?u)\b\w\w+\b"), returns the
 * maximal runs of two or more word characters, a word character being what the
 * re module's \w matches in a str pattern: Py_UNICODE_ISALNUM(ch) or '_' (the test
 * _sre itself uses); r"(?u)\b\w+\b|[!?]" returns the runs of one or more, and each
 * '!' and '?' on its own, in order. This module finds such tokens (runs of at least
 * `min_run` word characters, and the given non-word characters alone), keys each n-gram by
 * chaining 64-bit hashes of its words' code points, looks the keys up in an
 * open-addressing table of the vocabulary's keys, and returns the columns found
 * with their counts. Keys are not Python's salted str hash: a table built in one
 * process serves in any other.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xCBF29CE484222325ULL
#define FNV_PRIME 0x100000001B3ULL
#define CHAIN_MULTIPLIER 0x9E3779B97F4A7C15ULL
#define CHAIN_OFFSET 0x632BE59BD9B4E019ULL

/* SplitMix64's finalizer: a bijection that spreads every input bit over the key. */
static inline uint64_t mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

/* Keys are never 0: 0 marks an empty slot of the table. */
static inline uint64_t word_key(uint64_t fnv, Py_ssize_t length)
{
    return mix(fnv ^ (uint64_t)length) | 1u;
}

static inline uint64_t chain(uint64_t prefix, uint64_t word)
{
    return mix((prefix + CHAIN_OFFSET) * CHAIN_MULTIPLIER + word) | 1u;
}

/* ASCII word characters: [0-9A-Za-z_]. */
static const unsigned char ascii_word[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['_'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static inline int is_word_char(Py_UCS4 ch)
{
    return ch < 128 ? ascii_word[ch] : Py_UNICODE_ISALNUM(ch);
}

/* The keys of the tokens of `text` into `out` (room for `length` + 1): runs of at least
 * `min_run` word characters, and each character of `singles` (non-word characters) on
 * its own; returns how many. */
static Py_ssize_t word_keys(PyObject *text, Py_ssize_t min_run, PyObject *singles, uint64_t *out)
{
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    const int singles_kind = PyUnicode_KIND(singles);
    const void *singles_data = PyUnicode_DATA(singles);
    const Py_ssize_t n_singles = PyUnicode_GET_LENGTH(singles);
    Py_ssize_t count = 0;
    Py_ssize_t i = 0;
    while (i < length) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (!is_word_char(ch)) {
            for (Py_ssize_t k = 0; k < n_singles; k++)
                if (PyUnicode_READ(singles_kind, singles_data, k) == ch) {
                    out[count++] = word_key((FNV_OFFSET ^ ch) * FNV_PRIME, 1);
                    break;
                }
            i++;
            continue;
        }
        const Py_ssize_t start = i;
        uint64_t fnv = FNV_OFFSET;
        do {
            fnv = (fnv ^ ch) * FNV_PRIME;
            if (++i == length)
                break;
            ch = PyUnicode_READ(kind, data, i);
        } while (is_word_char(ch));
        if (i - start >= min_run)
            out[count++] = word_key(fnv, i - start);
    }
    return count;
}

/* The key of one part of a term: every code point counts, as the text's words do. */
static uint64_t part_key(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    uint64_t fnv = FNV_OFFSET;
    for (Py_ssize_t i = start; i < end; i++)
        fnv = (fnv ^ PyUnicode_READ(kind, data, i)) * FNV_PRIME;
    return word_key(fnv, end - start);
}

PyDoc_STRVAR(term_keys_doc,
"term_keys(terms, /) -> bytes\n\n"
"The key of each term (its parts between single spaces, chained), as uint64 values.");

static PyObject *term_keys(PyObject *module, PyObject *terms)
{
    (void)module;
    PyObject *sequence = PySequence_Fast(terms, "terms must be a sequence of str");
    if (sequence == NULL)
        return NULL;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(sequence);
    PyObject *result = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(uint64_t));
    if (result == NULL) {
        Py_DECREF(sequence);
        return NULL;
    }
    uint64_t *keys = (uint64_t *)PyBytes_AS_STRING(result);
    for (Py_ssize_t t = 0; t < n; t++) {
        PyObject *term = PySequence_Fast_GET_ITEM(sequence, t);
        if (!PyUnicode_Check(term)) {
            PyErr_Format(PyExc_TypeError, "term %zd is a %s, not a str", t, Py_TYPE(term)->tp_name);
            Py_DECREF(result);
            Py_DECREF(sequence);
            return NULL;
        }
        const int kind = PyUnicode_KIND(term);
        const void *data = PyUnicode_DATA(term);
        const Py_ssize_t length = PyUnicode_GET_LENGTH(term);
        uint64_t key = 0;
        Py_ssize_t start = 0;
        for (Py_ssize_t i = 0; i <= length; i++) {
            if (i < length && PyUnicode_READ(kind, data, i) != ' ')
                continue;
            const uint64_t part = part_key(kind, data, start, i);
            key = start == 0 ? part : chain(key, part);
            start = i + 1;
        }
        keys[t] = key;
    }
    Py_DECREF(sequence);
    return result;
}

static int read_buffer(PyObject *object, Py_buffer *view, Py_ssize_t itemsize, const char *what)
{
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s is not a whole number of %zd-byte items", what, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(build_table_doc,
"build_table(keys, columns, /) -> tuple[bytes, bytes]\n\n"
"An open-addressing table (slot keys as uint64, slot columns as int32) of uint64 `keys`\n"
"mapping to int64 `columns` (each below 2**31), with a power-of-two number of slots at\n"
"most 70 % full. ValueError when a key is 0 or given twice, or a column is out of range.");

static PyObject *build_table(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "build_table(keys, columns) takes two arguments");
        return NULL;
    }
    Py_buffer keys_view, columns_view;
    if (read_buffer(args[0], &keys_view, 8, "keys") < 0)
        return NULL;
    if (read_buffer(args[1], &columns_view, 8, "columns") < 0) {
        PyBuffer_Release(&keys_view);
        return NULL;
    }
    PyObject *slot_keys = NULL, *slot_columns = NULL, *result = NULL;
    const Py_ssize_t n = keys_view.len / 8;
    if (columns_view.len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "keys and columns differ in length");
        goto done;
    }
    /* Linear probing stays short (about three slots for a key not in the table) while
       the table is at most 70 % full; fuller, the probes grow quickly. */
    Py_ssize_t size = 16;
    while (10 * n > 7 * size)
        size *= 2;
    slot_keys = PyBytes_FromStringAndSize(NULL, size * 8);
    slot_columns = PyBytes_FromStringAndSize(NULL, size * 4);
    if (slot_keys == NULL || slot_columns == NULL)
        goto done;
    uint64_t *table_keys = (uint64_t *)PyBytes_AS_STRING(slot_keys);
    int32_t *table_columns = (int32_t *)PyBytes_AS_STRING(slot_columns);
    memset(table_keys, 0, (size_t)size * 8);
    memset(table_columns, 0xff, (size_t)size * 4);
    const uint64_t *keys = (const uint64_t *)keys_view.buf;
    const int64_t *columns = (const int64_t *)columns_view.buf;
    const uint64_t mask = (uint64_t)size - 1;
    for (Py_ssize_t t = 0; t < n; t++) {
        const uint64_t key = keys[t];
        if (key == 0) {
            PyErr_Format(PyExc_ValueError, "key %zd is 0", t);
            goto done;
        }
        if (columns[t] < 0 || columns[t] > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "column %zd is out of range", t);
            goto done;
        }
        uint64_t slot = mix(key) & mask;
        while (table_keys[slot] != 0) {
            if (table_keys[slot] == key) {
                PyErr_Format(PyExc_ValueError, "two terms share a key (term %zd)", t);
                goto done;
            }
            slot = (slot + 1) & mask;
        }
        table_keys[slot] = key;
        table_columns[slot] = (int32_t)columns[t];
    }
    result = PyTuple_Pack(2, slot_keys, slot_columns);
done:
    Py_XDECREF(slot_keys);
    Py_XDECREF(slot_columns);
    PyBuffer_Release(&keys_view);
    PyBuffer_Release(&columns_view);
    return result;
}

/* The column of `key`, or -1. At most every slot is probed: a table given as arbitrary
   bytes may have no empty one. */
static inline int64_t lookup(const uint64_t *table_keys, const int32_t *table_columns,
                             uint64_t mask, uint64_t key)
{
    uint64_t slot = mix(key) & mask;
    for (uint64_t probe = 0; probe <= mask && table_keys[slot] != 0; probe++) {
        if (table_keys[slot] == key)
            return table_columns[slot];
        slot = (slot + 1) & mask;
    }
    return -1;
}

PyDoc_STRVAR(count_doc,
"count(text, min_run, singles, low, high, slot_keys, slot_columns, /)\n"
"    -> tuple[bytes, bytes]\n\n"
"The columns (int64, each once, in the order first found) of the word `low`..`high`-grams\n"
"of `text` found in the table, and how often each occurs (float64).");

static PyObject *count(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "count(text, min_run, singles, low, high, slot_keys, "
                                         "slot_columns) takes seven arguments");
        return NULL;
    }
    PyObject *text = args[0], *singles = args[2];
    if (!PyUnicode_Check(text) || !PyUnicode_Check(singles)) {
        PyErr_SetString(PyExc_TypeError, "text and singles must be str");
        return NULL;
    }
    const Py_ssize_t min_run = PyLong_AsSsize_t(args[1]);
    const long low = PyLong_AsLong(args[3]);
    const long high = PyLong_AsLong(args[4]);
    if (PyErr_Occurred())
        return NULL;
    if (min_run < 1 || low < 1 || high < low) {
        PyErr_SetString(PyExc_ValueError, "need min_run >= 1 and 1 <= low <= high");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < PyUnicode_GET_LENGTH(singles); k++)
        if (is_word_char(PyUnicode_READ_CHAR(singles, k))) {
            PyErr_SetString(PyExc_ValueError, "singles must hold no word character");
            return NULL;
        }
    if (!PyBytes_Check(args[5]) || !PyBytes_Check(args[6]) ||
        PyBytes_GET_SIZE(args[5]) != 2 * PyBytes_GET_SIZE(args[6])) {
        PyErr_SetString(PyExc_TypeError, "the table must be the two bytes objects of build_table");
        return NULL;
    }
    const uint64_t size = (uint64_t)PyBytes_GET_SIZE(args[5]) / 8;
    if (size == 0 || (size & (size - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "the table's size is not a power of two");
        return NULL;
    }
    const uint64_t *table_keys = (const uint64_t *)PyBytes_AS_STRING(args[5]);
    const int32_t *table_columns = (const int32_t *)PyBytes_AS_STRING(args[6]);
    const uint64_t mask = size - 1;

    const Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    const size_t room = (size_t)length + 1;
    uint64_t *words = PyMem_Malloc(2 * room * sizeof(uint64_t));
    int64_t *found = PyMem_Malloc(room * (size_t)(high - low + 1) * sizeof(int64_t));
    if (words == NULL || found == NULL) {
        PyMem_Free(words);
        PyMem_Free(found);
        return PyErr_NoMemory();
    }
    uint64_t *grams = words + room;
    const Py_ssize_t n_words = word_keys(text, min_run, singles, words);
    Py_ssize_t n_found = 0;
    memcpy(grams, words, (size_t)n_words * sizeof(uint64_t));
    for (long n = 1; n <= high && n <= n_words; n++) {
        const Py_ssize_t n_grams = n_words - n + 1;
        if (n > 1)
            for (Py_ssize_t s = 0; s < n_grams; s++)
                grams[s] = chain(grams[s], words[s + n - 1]);
        if (n < low)
            continue;
        /* Every lookup is a cache miss in a table of megabytes: ask for them all first,
           so the memory system fetches them side by side instead of one at a time. */
        for (Py_ssize_t s = 0; s < n_grams; s++)
            __builtin_prefetch(&table_keys[mix(grams[s]) & mask]);
        for (Py_ssize_t s = 0; s < n_grams; s++) {
            const int64_t column = lookup(table_keys, table_columns, mask, grams[s]);
            if (column >= 0)
                found[n_found++] = column;
        }
    }
    /* Tally the columns found in a small table of their own (at most half full). */
    size_t tally_size = 16;
    while (tally_size < 2 * (size_t)n_found)
        tally_size *= 2;
    int64_t *tally = PyMem_Malloc(tally_size * sizeof(int64_t));
    double *tallied = PyMem_Malloc((size_t)(n_found + 1) * sizeof(double));
    PyObject *result = NULL;
    if (tally == NULL || tallied == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memset(tally, 0xff, tally_size * sizeof(int64_t)); /* -1: free; else an index into found */
    Py_ssize_t n_unique = 0;
    for (Py_ssize_t i = 0; i < n_found; i++) {
        const int64_t column = found[i];
        size_t slot = (size_t)mix((uint64_t)column) & (tally_size - 1);
        while (tally[slot] >= 0 && found[tally[slot]] != column)
            slot = (slot + 1) & (tally_size - 1);
        if (tally[slot] < 0) {
            tally[slot] = n_unique;
            found[n_unique] = column; /* n_unique <= i: an entry already read */
            tallied[n_unique++] = 1.0;
        } else {
            tallied[tally[slot]] += 1.0;
        }
    }
    PyObject *columns = PyBytes_FromStringAndSize((const char *)found, n_unique * 8);
    PyObject *counts = PyBytes_FromStringAndSize((const char *)tallied, n_unique * 8);
    if (columns != NULL && counts != NULL)
        result = PyTuple_Pack(2, columns, counts);
    Py_XDECREF(columns);
    Py_XDECREF(counts);
done:
    PyMem_Free(tally);
    PyMem_Free(tallied);
    PyMem_Free(words);
    PyMem_Free(found);
    return result;
}

static PyMethodDef methods[] = {
    {"term_keys", (PyCFunction)term_keys, METH_O, term_keys_doc},
    {"build_table", (PyCFunction)(void (*)(void))build_table, METH_FASTCALL, build_table_doc},
    {"count", (PyCFunction)(void (*)(void))count, METH_FASTCALL, count_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "model_server._ngram_counts",
    "Word n-gram counts of a text over a vocabulary, for the compiled scorer.",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__ngram_counts(void)
{
    return PyModule_Create(&module_def);
}
