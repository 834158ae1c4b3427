/* The compiled scorer's C parts: word n-gram counts of a text over a vocabulary, and
 * the linear decision over those counts.
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
#include <math.h>
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

/* A slot of the vocabulary table: a key (0: empty) and its column, in one cache line. */
typedef struct {
    uint64_t key;
    int64_t column;
} slot_t;

/* The column of `key`, or -1. At most every slot is probed: a table given as arbitrary
   bytes may have no empty one. */
static inline int64_t lookup(const slot_t *slots, uint64_t mask, uint64_t key)
{
    uint64_t slot = mix(key) & mask;
    for (uint64_t probe = 0; probe <= mask && slots[slot].key != 0; probe++) {
        if (slots[slot].key == key)
            return slots[slot].column;
        slot = (slot + 1) & mask;
    }
    return -1;
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

/* The keys of the parts of `term` between single spaces into `parts` (room for its
   length + 1); returns how many. */
static Py_ssize_t part_keys(PyObject *term, uint64_t *parts)
{
    const int kind = PyUnicode_KIND(term);
    const void *data = PyUnicode_DATA(term);
    const Py_ssize_t length = PyUnicode_GET_LENGTH(term);
    Py_ssize_t count = 0, start = 0;
    for (Py_ssize_t i = 0; i <= length; i++) {
        if (i < length && PyUnicode_READ(kind, data, i) != ' ')
            continue;
        parts[count++] = part_key(kind, data, start, i);
        start = i + 1;
    }
    return count;
}

/* The key of the n-gram of parts[first..last]. */
static uint64_t chained(const uint64_t *parts, Py_ssize_t first, Py_ssize_t last)
{
    uint64_t key = parts[first];
    for (Py_ssize_t i = first + 1; i <= last; i++)
        key = chain(key, parts[i]);
    return key;
}

/* Calls `each(t, parts, n_parts, state)` for every term; -1 with an exception set when a
   term is not a str or `each` fails. */
static int for_each_term(PyObject *terms,
                         int (*each)(Py_ssize_t, const uint64_t *, Py_ssize_t, void *),
                         void *state)
{
    PyObject *sequence = PySequence_Fast(terms, "terms must be a sequence of str");
    if (sequence == NULL)
        return -1;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(sequence);
    Py_ssize_t room = 0;
    uint64_t *parts = NULL;
    int status = 0;
    for (Py_ssize_t t = 0; t < n && status == 0; t++) {
        PyObject *term = PySequence_Fast_GET_ITEM(sequence, t);
        if (!PyUnicode_Check(term)) {
            PyErr_Format(PyExc_TypeError, "term %zd is a %s, not a str", t, Py_TYPE(term)->tp_name);
            status = -1;
            break;
        }
        const Py_ssize_t need = PyUnicode_GET_LENGTH(term) + 1;
        if (need > room) {
            PyMem_Free(parts);
            room = need > 64 ? need : 64;
            parts = PyMem_Malloc((size_t)room * sizeof(uint64_t));
            if (parts == NULL) {
                PyErr_NoMemory();
                status = -1;
                break;
            }
        }
        status = each(t, parts, part_keys(term, parts), state);
    }
    PyMem_Free(parts);
    Py_DECREF(sequence);
    return status;
}

static int store_key(Py_ssize_t t, const uint64_t *parts, Py_ssize_t n_parts, void *keys)
{
    ((uint64_t *)keys)[t] = chained(parts, 0, n_parts - 1);
    return 0;
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
    if (result != NULL && for_each_term(sequence, store_key, PyBytes_AS_STRING(result)) < 0)
        Py_CLEAR(result);
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
"build_table(keys, columns, /) -> bytes\n\n"
"An open-addressing table of uint64 `keys` mapping to int64 `columns`: a power-of-two\n"
"number of 16-byte slots (key, column), at most 70 % full. ValueError when a key is 0\n"
"or given twice, or a column is negative.");

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
    PyObject *table = NULL;
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
    table = PyBytes_FromStringAndSize(NULL, size * (Py_ssize_t)sizeof(slot_t));
    if (table == NULL)
        goto done;
    slot_t *slots = (slot_t *)PyBytes_AS_STRING(table);
    memset(slots, 0, (size_t)size * sizeof(slot_t));
    const uint64_t *keys = (const uint64_t *)keys_view.buf;
    const int64_t *columns = (const int64_t *)columns_view.buf;
    const uint64_t mask = (uint64_t)size - 1;
    for (Py_ssize_t t = 0; t < n; t++) {
        const uint64_t key = keys[t];
        const char *problem = key == 0 ? "is 0" : columns[t] < 0 ? "has a negative column" : NULL;
        uint64_t slot = mix(key) & mask;
        while (problem == NULL && slots[slot].key != 0) {
            if (slots[slot].key == key)
                problem = "shares a key with another term";
            slot = (slot + 1) & mask;
        }
        if (problem != NULL) {
            PyErr_Format(PyExc_ValueError, "term %zd %s", t, problem);
            Py_CLEAR(table);
            goto done;
        }
        slots[slot].key = key;
        slots[slot].column = columns[t];
    }
done:
    PyBuffer_Release(&keys_view);
    PyBuffer_Release(&columns_view);
    return table;
}

/* A table as build_table makes it: bytes of a power-of-two number of slots. */
static const slot_t *read_table(PyObject *table, uint64_t *mask)
{
    const Py_ssize_t size = PyBytes_Check(table) ? PyBytes_GET_SIZE(table) : 0;
    const uint64_t n_slots = (uint64_t)size / sizeof(slot_t);
    if (size == 0 || size % (Py_ssize_t)sizeof(slot_t) != 0 || (n_slots & (n_slots - 1)) != 0) {
        PyErr_SetString(PyExc_TypeError, "the table must be bytes made by build_table");
        return NULL;
    }
    *mask = n_slots - 1;
    return (const slot_t *)PyBytes_AS_STRING(table);
}

struct closure_check {
    const slot_t *slots;
    uint64_t mask;
    int closed;
};

static int check_closed(Py_ssize_t t, const uint64_t *parts, Py_ssize_t n_parts, void *state)
{
    (void)t;
    struct closure_check *check = state;
    if (n_parts >= 2 &&
        (lookup(check->slots, check->mask, chained(parts, 0, n_parts - 2)) < 0 ||
         lookup(check->slots, check->mask, chained(parts, 1, n_parts - 1)) < 0)) {
        check->closed = 0;
        return 1; /* stop: one is enough */
    }
    return 0;
}

PyDoc_STRVAR(is_closed_doc,
"is_closed(terms, table, /) -> bool\n\n"
"Whether the n-grams that each term of n >= 2 parts begins and ends with (its two\n"
"(n-1)-grams) are terms of the table too: true of a vocabulary of the n-grams seen in\n"
"at least min_df texts, as every text that holds an n-gram holds both.");

static PyObject *is_closed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "is_closed(terms, table) takes two arguments");
        return NULL;
    }
    struct closure_check check = {NULL, 0, 1};
    check.slots = read_table(args[1], &check.mask);
    if (check.slots == NULL || for_each_term(args[0], check_closed, &check) < 0)
        return NULL;
    return PyBool_FromLong(check.closed);
}

PyDoc_STRVAR(count_doc,
"count(text, min_run, singles, low, high, table, closed, /) -> tuple[bytes, bytes]\n\n"
"The columns (int64, each once, in the order first found) of the word `low`..`high`-grams\n"
"of `text` found in the table, and how often each occurs (float64). With `closed` (the\n"
"table is_closed, and low is 1) an n-gram is looked up only when both its (n-1)-grams\n"
"were found: it cannot be a term otherwise.");

static PyObject *count(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "count(text, min_run, singles, low, high, table, "
                                         "closed) takes seven arguments");
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
    uint64_t mask;
    const slot_t *slots = read_table(args[5], &mask);
    if (slots == NULL)
        return NULL;
    const int closed = PyObject_IsTrue(args[6]);
    if (closed < 0)
        return NULL;
    const int prune = closed && low == 1;

    const Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    const size_t room = (size_t)length + 1;
    uint64_t *words = PyMem_Malloc(2 * room * sizeof(uint64_t));
    int64_t *found = PyMem_Malloc(room * (size_t)(high - low + 1) * sizeof(int64_t));
    unsigned char *known = PyMem_Malloc(room);
    Py_ssize_t *candidates = PyMem_Malloc(room * sizeof(Py_ssize_t));
    int64_t *tally = NULL;
    double *tallied = NULL;
    PyObject *result = NULL;
    if (words == NULL || found == NULL || known == NULL || candidates == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint64_t *grams = words + room;
    const Py_ssize_t n_words = word_keys(text, min_run, singles, words);
    Py_ssize_t n_found = 0;
    memcpy(grams, words, (size_t)n_words * sizeof(uint64_t));
    for (long n = 1; n <= high && n <= n_words; n++) {
        const Py_ssize_t n_grams = n_words - n + 1;
        Py_ssize_t n_candidates = 0;
        for (Py_ssize_t s = 0; s < n_grams; s++) {
            if (n > 1)
                grams[s] = chain(grams[s], words[s + n - 1]);
            if (n >= low && (!prune || n == 1 || (known[s] && known[s + 1])))
                candidates[n_candidates++] = s;
        }
        /* Every lookup is a cache miss in a table of megabytes: ask for them all first,
           so the memory system fetches them side by side instead of one at a time. */
        for (Py_ssize_t c = 0; c < n_candidates; c++)
            __builtin_prefetch(&slots[mix(grams[candidates[c]]) & mask]);
        if (prune)
            memset(known, 0, (size_t)n_grams > room ? room : (size_t)n_grams);
        for (Py_ssize_t c = 0; c < n_candidates; c++) {
            const int64_t column = lookup(slots, mask, grams[candidates[c]]);
            if (column >= 0) {
                found[n_found++] = column;
                known[candidates[c]] = 1;
            }
        }
    }
    /* Tally the columns found in a small table of their own (at most half full). */
    size_t tally_size = 16;
    while (tally_size < 2 * (size_t)n_found)
        tally_size *= 2;
    tally = PyMem_Malloc(tally_size * sizeof(int64_t));
    tallied = PyMem_Malloc((size_t)(n_found + 1) * sizeof(double));
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
    PyMem_Free(known);
    PyMem_Free(candidates);
    return result;
}

PyDoc_STRVAR(linear_decision_doc,
"linear_decision(columns, counts, sublinear, factors, norm, weights, /) -> float\n\n"
"The row of `counts` (float64) at `columns` (int64), each count turned into\n"
"1 + log(count) if `sublinear`, scaled by `factors` (float64 by column, or None),\n"
"divided by the row's norm (`norm` 0: none, 1: l1, 2: l2; a zero norm divides nothing),\n"
"then dotted with `weights` (float64 by column). ValueError for a column out of range.");

static PyObject *linear_decision(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "linear_decision(columns, counts, sublinear, factors, "
                                         "norm, weights) takes six arguments");
        return NULL;
    }
    const int sublinear = PyObject_IsTrue(args[2]);
    const long norm = PyLong_AsLong(args[4]);
    if (sublinear < 0 || (norm == -1 && PyErr_Occurred()))
        return NULL;
    if (norm < 0 || norm > 2) {
        PyErr_SetString(PyExc_ValueError, "norm must be 0 (none), 1 (l1) or 2 (l2)");
        return NULL;
    }
    Py_buffer views[4];
    int held = 0;
    PyObject *result = NULL;
    const int has_factors = args[3] != Py_None;
    if (read_buffer(args[0], &views[0], 8, "columns") < 0)
        goto done;
    held = 1;
    if (read_buffer(args[1], &views[1], 8, "counts") < 0)
        goto done;
    held = 2;
    if (read_buffer(args[5], &views[2], 8, "weights") < 0)
        goto done;
    held = 3;
    if (has_factors) {
        if (read_buffer(args[3], &views[3], 8, "factors") < 0)
            goto done;
        held = 4;
    }
    const Py_ssize_t n = views[0].len / 8;
    if (views[1].len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "columns and counts differ in length");
        goto done;
    }
    const int64_t *columns = views[0].buf;
    const double *counts = views[1].buf;
    const double *weights = views[2].buf;
    const double *factors = has_factors ? views[3].buf : NULL;
    const int64_t width = views[2].len / 8;
    if (has_factors && views[3].len / 8 != width) {
        PyErr_SetString(PyExc_ValueError, "factors and weights differ in length");
        goto done;
    }
    double dot = 0.0, size = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t column = columns[i];
        if (column < 0 || column >= width) {
            PyErr_Format(PyExc_ValueError, "column %lld is out of range", (long long)column);
            goto done;
        }
        double value = sublinear ? log(counts[i]) + 1.0 : counts[i];
        if (factors != NULL)
            value *= factors[column];
        size += norm == 2 ? value * value : fabs(value);
        dot += value * weights[column];
    }
    /* The norm divides every value, so it divides their dot product alike. */
    if (norm == 2 && size > 0.0)
        dot /= sqrt(size);
    else if (norm == 1 && size > 0.0)
        dot /= size;
    result = PyFloat_FromDouble(dot);
done:
    for (int v = 0; v < held; v++)
        PyBuffer_Release(&views[v]);
    return result;
}

static PyMethodDef methods[] = {
    {"term_keys", (PyCFunction)term_keys, METH_O, term_keys_doc},
    {"build_table", (PyCFunction)(void (*)(void))build_table, METH_FASTCALL, build_table_doc},
    {"is_closed", (PyCFunction)(void (*)(void))is_closed, METH_FASTCALL, is_closed_doc},
    {"count", (PyCFunction)(void (*)(void))count, METH_FASTCALL, count_doc},
    {"linear_decision", (PyCFunction)(void (*)(void))linear_decision, METH_FASTCALL,
     linear_decision_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "model_server._scoring",
    "The compiled scorer's C parts: word n-gram counts, the linear decision.",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__scoring(void)
{
    return PyModule_Create(&module_def);
}
