r"""A compiled scorer for linear text pipelines: tokens in, positive-class probability out.

The family it understands is the one this project trains::

    Pipeline([ColumnTransformer or FeatureUnion of text vectorizers on the text column
              (HashingVectorizer, CountVectorizer, TfidfVectorizer, any analyzer and n-grams),
              zero or more TfidfTransformer,
              a binary linear classifier with predict_proba (LogisticRegression,
              SGDClassifier with log loss)])

Every step is a per-feature scaling, an element-wise function of the counts
(``sublinear_tf``) or a normalization of the whole row, so a review is scored from
its own few hundred features without building a matrix as wide as the hash space:
the vectorizer's own preprocessor and tokenizer (or, for anything but plain word
n-grams, its whole ``build_analyzer()``) make the tokens. A vocabulary's word n-grams
are counted in C (``_scoring``) when the token pattern is one it reproduces
(scikit-learn's default, this project's ``\b\w+\b|[!?]``): tokens, n-gram keys and
the lookup without a Python object per word, eight times faster than the same in
Python and numpy; with any other tokenizer they are looked up by keys chained from
their words' hashes (``word_ngrams``: no string joined per n-gram). A hashing
vectorizer's n-grams are joined as scikit-learn joins them and hashed
(``mmh3``: the MurmurHash3 that ``FeatureHasher`` uses, at a third of the cost of
calling scikit-learn's per token); the scalings that follow the
last row-wide operation are folded, with the classifier's weights, into one vector.
Nothing here trusts itself: ``prove`` compares it with the pipeline's own
``predict_proba`` before it is used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import mmh3
import numpy as np
from numpy.typing import NDArray

from model_server import _scoring
from model_server.preprocessing import Preprocessing
from model_server.word_ngrams import WordNgrams, str_hashes, term_keys

#: Largest difference in probability accepted between the compiled and generic paths.
#: The pipeline computes in float32 where its arrays are float32; a correct fold in
#: float64 differs from it by a few 1e-7.
TOLERANCE = 1e-6

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


class NotCompilableError(ValueError):
    """The pipeline is outside the family; the message says which part."""


@dataclass(frozen=True)
class Sublinear:
    """``tf -> 1 + log(tf)`` on the stored entries."""


@dataclass(frozen=True)
class Scale:
    """Multiply feature ``j`` by ``factors[j]`` (an IDF, an NB ratio, a block weight)."""

    factors: NDArray[Any]


@dataclass(frozen=True)
class Normalize:
    """Divide the row by its l1 or l2 norm."""

    norm: Literal["l1", "l2"]


Op = Sublinear | Scale | Normalize


@dataclass(frozen=True)
class Block:
    """One text vectorizer's columns: how to count a text's features, and its own steps."""

    count: Callable[[str], tuple[Ints, Floats]]
    ops: tuple[Op, ...]
    offset: int
    weight: float


class LinearTextScorer:
    """Positive-class probabilities of texts, computed feature by feature."""

    def __init__(
        self,
        blocks: Sequence[Block],
        ops: Sequence[Op],
        weights: Floats,
        intercept: float,
        positive_is_second: bool,
        columns: Ints | None = None,
    ) -> None:
        self.blocks = tuple(blocks)
        self.ops = tuple(ops)
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)
        self.intercept = intercept
        self.positive_is_second = positive_is_second
        #: When set, the sorted columns that can count (``ops`` and ``weights`` hold only
        #: theirs, in this order); any other column is multiplied by zero before it could
        #: weigh in a norm or the decision, so it is dropped.
        self.columns = columns
        self._fused = _fused_ops(self.blocks, self.ops, columns)

    @property
    def portable(self) -> bool:
        """Whether it can be built in one process and run in another that never imported
        scikit-learn: every block counted by a portable ``NativeCounter`` or
        ``HashingCounter``."""
        return all(
            isinstance(b.count, NativeCounter | HashingCounter) and b.count.portable
            for b in self.blocks
        )

    def positive_proba(self, texts: Iterable[str]) -> list[float]:
        """The probability of the positive class for each text, in order."""
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> float:
        if self._fused is not None:
            indices, values = self.blocks[0].count(text)
            decision = _scoring.linear_decision(indices, values, *self._fused, self.weights)
            return self._probability(decision + self.intercept)
        parts = [self._block_features(block, text) for block in self.blocks]
        if len(parts) == 1:
            indices, values = parts[0]
        else:
            indices = np.concatenate([p[0] for p in parts])
            values = np.concatenate([p[1] for p in parts])
        if self.columns is not None:
            positions = np.searchsorted(self.columns, indices)
            positions[positions == len(self.columns)] = 0
            live = self.columns[positions] == indices
            indices, values = positions[live], values[live]
        values = _apply(self.ops, indices, values)
        return self._probability(float(values @ self.weights[indices]) + self.intercept)

    def _probability(self, decision: float) -> float:
        second = _expit(decision)
        return second if self.positive_is_second else 1.0 - second

    @staticmethod
    def _block_features(block: Block, text: str) -> tuple[Ints, Floats]:
        indices, values = block.count(text)
        values = _apply(block.ops, indices, values)
        if block.weight != 1.0:
            values = values * block.weight
        return indices + block.offset, values


def _fused_ops(
    blocks: Sequence[Block], ops: Sequence[Op], columns: Ints | None
) -> tuple[bool, Floats | None, int] | None:
    """``linear_decision``'s arguments for what follows the counting, when one C call can
    do it all (one block as it is counted, then sublinear TF, a scaling and a norm, each
    optional, in that order: the project's models): nine numpy calls fewer a review."""
    if len(blocks) != 1 or columns is not None:
        return None
    block = blocks[0]
    if block.weight != 1.0 or block.offset != 0:
        return None
    rest = [*block.ops, *ops]  # a single block's own steps, then the pipeline's
    sublinear = bool(rest) and isinstance(rest[0], Sublinear)
    if sublinear:
        rest.pop(0)
    factors = None
    if rest and isinstance(scale := rest[0], Scale):
        factors = np.ascontiguousarray(scale.factors, dtype=np.float64)
        rest.pop(0)
    norm = 0
    if rest and isinstance(normalize := rest[0], Normalize):
        norm = 1 if normalize.norm == "l1" else 2
        rest.pop(0)
    return None if rest else (sublinear, factors, norm)


def _apply(ops: Sequence[Op], indices: Ints, values: Floats) -> Floats:
    for op in ops:
        if isinstance(op, Sublinear):
            values = np.log(values) + 1.0
        elif isinstance(op, Scale):
            values = values * op.factors[indices]
        else:
            norm = np.abs(values).sum() if op.norm == "l1" else math.sqrt(values @ values)
            if norm > 0.0:
                values = values / norm
    return values


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


# -- compiling ------------------------------------------------------------------------


def compile_pipeline(pipeline: Any, text_column: str) -> LinearTextScorer:
    """The scorer equivalent to ``pipeline``; ``NotCompilableError`` outside the family."""
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline):
        raise NotCompilableError(f"the model is a {type(pipeline).__name__}, not a Pipeline")
    steps = [step for _, step in pipeline.steps if step is not None and step != "passthrough"]
    if len(steps) < 2:
        raise NotCompilableError("the Pipeline needs a vectorizing step and a classifier")
    vectorized, width = _blocks(steps[0], text_column, selected=False, offset=0, weight=1.0)
    if not vectorized:
        raise NotCompilableError("the first step holds no text vectorizer")
    ops: list[Op] = []
    for step in steps[1:-1]:
        ops.extend(_tfidf_ops(step, f"step {type(step).__name__}"))
    coef, intercept, positive_is_second = _classifier(steps[-1], width)
    ops = _merge_scales(ops)
    weights = coef
    while ops and isinstance(last := ops[-1], Scale):  # after the last norm: into the weights
        weights = weights * np.asarray(last.factors, dtype=np.float64)
        ops.pop()
    columns = _live_columns(ops, weights)
    if columns is not None:
        ops = [Scale(np.asarray(o.factors)[columns]) if isinstance(o, Scale) else o for o in ops]
        weights = weights[columns]
    return LinearTextScorer(vectorized, ops, weights, intercept, positive_is_second, columns)


#: Keep only the live columns when at most this share of them is live.
LIVE_SHARE = 0.5


def _live_columns(ops: Sequence[Op], weights: Floats) -> Ints | None:
    """The columns not multiplied by zero before any norm or the decision could see them.

    A project model zeroes the IDF of n-grams seen in fewer than ``min_df`` training
    reviews: of 2**22 hashed columns, a few hundred thousand at most are live, so the
    scorer keeps arrays that size instead of 2**22.
    """
    dead = np.zeros(len(weights), dtype=bool)
    for op in ops:
        if isinstance(op, Normalize):
            break
        if isinstance(op, Scale):
            dead |= np.asarray(op.factors) == 0
    else:  # no norm at all: a zero weight is dead too
        dead |= weights == 0
    live = np.flatnonzero(~dead)
    return live.astype(np.int64) if len(live) <= LIVE_SHARE * len(weights) else None


def _blocks(
    transformer: Any, column: str, *, selected: bool, offset: int, weight: float
) -> tuple[list[Block], int]:
    """The vectorizer blocks of ``transformer`` from ``offset`` on, and the columns they take."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer
    from sklearn.pipeline import FeatureUnion

    name = type(transformer).__name__
    if isinstance(transformer, HashingVectorizer | CountVectorizer):
        if not selected:
            raise NotCompilableError(f"{name} is not applied to the {column!r} column alone")
        block, width = _vectorizer_block(transformer, offset, weight)
        return [block], width
    if isinstance(transformer, ColumnTransformer):
        if selected:
            raise NotCompilableError("a ColumnTransformer inside a column selection")
        children: list[tuple[Any, float]] = []
        weights = transformer.transformer_weights or {}
        for child_name, child, columns in transformer.transformers_:
            if child == "drop" or (isinstance(columns, list) and not columns):
                continue
            if columns != column:  # a list of columns would give the vectorizer a DataFrame
                raise NotCompilableError(f"{child_name!r} reads {columns!r}, not {column!r} alone")
            if child == "passthrough":
                raise NotCompilableError(f"{child_name!r} passes the raw text through")
            children.append((child, float(weights.get(child_name, 1.0))))
        return _stack(children, column, True, offset, weight)
    if isinstance(transformer, FeatureUnion):
        weights = transformer.transformer_weights or {}
        union = [
            (child, float(weights.get(child_name, 1.0)))
            for child_name, child in transformer.transformer_list
            if child != "drop"
        ]
        if any(child == "passthrough" for child, _ in union):
            raise NotCompilableError("a FeatureUnion passes its input through")
        return _stack(union, column, selected, offset, weight)
    raise NotCompilableError(f"{name} is not a known text vectorizer")


def _stack(
    children: list[tuple[Any, float]], column: str, selected: bool, offset: int, weight: float
) -> tuple[list[Block], int]:
    blocks: list[Block] = []
    start = offset
    for child, child_weight in children:
        found, width = _blocks(
            child, column, selected=selected, offset=start, weight=weight * child_weight
        )
        blocks += found
        start += width
    return blocks, start - offset


def _vectorizer_block(vectorizer: Any, offset: int, weight: float) -> tuple[Block, int]:
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer

    if vectorizer.input != "content":
        raise NotCompilableError(f"the vectorizer reads {vectorizer.input!r}, not the text itself")
    # The analyzer is bound to the vectorizer it was built from: build it from an unfitted
    # twin, so the scorer does not keep a fitted vocabulary (and its dict) alive.
    analyzer = _analyzer(_unfitted_twin(vectorizer))
    binary = bool(vectorizer.binary)
    ops: list[Op] = []
    count: Callable[[str], tuple[Ints, Floats]]
    if isinstance(vectorizer, HashingVectorizer):
        width = int(vectorizer.n_features)
        count = HashingCounter(analyzer, width, bool(vectorizer.alternate_sign), binary)
        if vectorizer.norm is not None:
            ops.append(_normalize(vectorizer.norm, "HashingVectorizer"))
    else:
        terms, columns = _vocabulary(vectorizer)
        width = len(terms)
        count = _vocabulary_counter(analyzer, terms, columns, binary)
        if isinstance(vectorizer, TfidfVectorizer):
            ops.extend(_tfidf_ops(vectorizer._tfidf, "TfidfVectorizer"))
    return Block(count, tuple(_merge_scales(ops)), offset, weight), width


def _vocabulary(vectorizer: Any) -> tuple[list[str], Ints]:
    """The vectorizer's terms and their columns.

    The project saves a vocabulary as the ``vocabulary`` array alone (its fitted dict
    would cost more to store and load than the rest of the model): its terms are read
    from the array, in column order, instead of having scikit-learn rebuild the dict
    first (0.1-0.3 s of the server's start for 250,000 terms).
    """
    source = getattr(vectorizer, "vocabulary_", None)
    if source is None:
        source = vectorizer.vocabulary
    if source is None:
        raise NotCompilableError(f"{type(vectorizer).__name__} has no vocabulary (not fitted)")
    if isinstance(source, Mapping):
        terms = list(map(str, source))
        columns = np.fromiter(source.values(), dtype=np.int64, count=len(source))
    else:
        terms = list(map(str, np.asarray(source).tolist()))
        columns = np.arange(len(terms), dtype=np.int64)
    return terms, columns


def _unfitted_twin(vectorizer: Any) -> Any:
    """A vectorizer that analyses text exactly as ``vectorizer`` does, with no vocabulary."""
    params = vectorizer.get_params(deep=False)
    if "vocabulary" in params:
        params["vocabulary"] = None
    return type(vectorizer)(**params)


def _analyzer(vectorizer: Any) -> Callable[[str], list[str]]:
    """The vectorizer's analyzer; for word n-grams without stop words, an equal
    ``WordNgrams``, which also keys n-grams without joining them."""
    if vectorizer.analyzer != "word" or vectorizer.get_stop_words() is not None:
        return vectorizer.build_analyzer()  # type: ignore[no-any-return]
    low, high = vectorizer.ngram_range
    if not 1 <= low <= high:
        raise NotCompilableError(f"ngram_range {vectorizer.ngram_range} is not a range from 1")
    return WordNgrams(
        Preprocessing.of(vectorizer) or vectorizer.build_preprocessor(),
        vectorizer.build_tokenizer(),
        low,
        high,
        native_tokens=None if vectorizer.tokenizer else native_tokens(vectorizer.token_pattern),
    )


#: Token patterns of runs of word characters, optionally with single characters besides:
#: scikit-learn's default ``(?u)\b\w\w+\b``, and this project's ``(?u)\b\w+\b|[!?]``.
_RUNS_PATTERN = re.compile(r"(?:\(\?u\))?\\b\\w(\\w\+|\+)\\b(?:\|\[([^\]\\^\-\[]+)\])?")


def native_tokens(token_pattern: str | None) -> tuple[int, str] | None:
    """What ``_scoring`` needs to split text as ``re.findall(token_pattern)`` does:
    the shortest run of word characters returned, and the characters returned alone;
    ``None`` for any other pattern."""
    match = _RUNS_PATTERN.fullmatch(token_pattern or "")
    if match is None:
        return None
    singles = match[2] or ""
    # A word character alone is not a run; a space alone would split as n-grams do.
    if " " in singles or any(re.fullmatch(r"\w", char) for char in singles):
        return None
    return (2 if match[1] == "\\w+" else 1), "".join(sorted(set(singles)))


@dataclass(frozen=True, slots=True)
class HashingCounter:
    """Counts as ``FeatureHasher`` makes them: signed murmurhash3 of the UTF-8 token, seed 0."""

    analyzer: Callable[[str], list[str]]
    width: int
    alternate_sign: bool
    binary: bool

    @property
    def portable(self) -> bool:
        """Whether it runs where scikit-learn was never imported (see ``NativeCounter``)."""
        return isinstance(self.analyzer, WordNgrams) and self.analyzer.portable

    def __call__(self, text: str) -> tuple[Ints, Floats]:
        # mmh3 crashes the process on a str that is not valid UTF-8 (a lone surrogate);
        # this raises UnicodeEncodeError for it as scikit-learn's hashing does.
        text.encode("utf-8")
        tokens = self.analyzer(text)
        hashes = np.fromiter(map(mmh3.hash, tokens), dtype=np.int64, count=len(tokens))
        columns = np.abs(hashes) % self.width
        if not self.alternate_sign:
            indices, counts = np.unique(columns, return_counts=True)
            values = counts.astype(np.float64)
        else:
            indices, inverse = np.unique(columns, return_inverse=True)
            signs = np.where(hashes >= 0, 1.0, -1.0)
            # Cancelled features stay stored as zeros, as FeatureHasher keeps them (binary=True
            # turns them into ones).
            values = np.bincount(inverse, weights=signs, minlength=len(indices)).astype(np.float64)
        if self.binary:
            values = np.ones_like(values)
        return indices, values


_SALT_PROBE = "sentiment-operator: the str hash salt of this process"


def _vocabulary_counter(
    analyzer: Callable[[str], list[str]], terms: Sequence[str], columns: Ints, binary: bool
) -> Callable[[str], tuple[Ints, Floats]]:
    """Counts of the vocabulary's terms, looked up by 64-bit keys.

    A dict of a few hundred thousand strings costs ~140 bytes a term and, through the
    reference counts a lookup touches, drifts out of the pages the workers share after
    the fork; two sorted arrays cost 16 bytes a term and are only read. A term's key is
    its ``term_keys`` key for plain word n-grams (no string joined per n-gram), else its
    Python hash. Two vocabulary terms with one key are refused; an unknown n-gram that
    shares a term's key (about one in 10**13 for a 250,000-term vocabulary) would count
    as that term. ``str`` hashes are salted per interpreter, and forked workers share
    the salt.
    """
    if not terms:
        raise NotCompilableError("the vocabulary is empty")
    if isinstance(analyzer, WordNgrams) and analyzer.native_tokens is not None:
        return _native_counter(analyzer, analyzer.native_tokens, terms, columns, binary)
    if isinstance(analyzer, WordNgrams):
        keys, text_keys = term_keys(terms), analyzer.keys
    else:
        keys = str_hashes(terms)
        text_keys = lambda text: str_hashes(analyzer(text))  # noqa: E731
    order = np.argsort(keys)
    keys, columns = keys[order], columns[order]
    if (keys[1:] == keys[:-1]).any():  # a term given twice, or a true collision
        raise NotCompilableError("two vocabulary terms share a key")
    salt = hash(_SALT_PROBE)
    last = len(keys) - 1

    def count(text: str) -> tuple[Ints, Floats]:
        if hash(_SALT_PROBE) != salt:
            raise RuntimeError("the scorer was built in a process with other str hashes")
        wanted, counts = np.unique(text_keys(text), return_counts=True)
        positions = np.minimum(np.searchsorted(keys, wanted), last)
        known = keys[positions] == wanted
        indices = columns[positions[known]]
        values = np.ones(len(indices)) if binary else counts[known].astype(np.float64)
        return indices, values

    return count


def _native_counter(
    analyzer: WordNgrams,
    tokens: tuple[int, str],
    terms: Sequence[str],
    columns: Ints,
    binary: bool,
) -> NativeCounter:
    """A ``NativeCounter`` of the vocabulary's terms; ``NotCompilableError`` when two of
    them share a key."""
    keys = _scoring.term_keys(terms)
    try:
        table = _scoring.build_table(keys, np.ascontiguousarray(columns, dtype=np.int64))
    except ValueError as error:  # a term given twice, or a true collision
        raise NotCompilableError(f"the vocabulary cannot be tabled: {error}") from None
    min_run, singles = tokens
    closed = _scoring.is_closed(terms, table)
    low, high = analyzer.low, analyzer.high
    return NativeCounter(analyzer.preprocess, min_run, singles, low, high, table, closed, binary)


@dataclass(frozen=True, slots=True)
class NativeCounter:
    """Counts of a vocabulary's word n-grams found by ``_scoring`` in C: the tokenizer's
    words, their n-grams' keys and the lookup, without a Python object per word.

    ``table`` is an open-addressing table of the terms' keys (16 bytes a slot, read only,
    so it stays in the pages the workers share); its keys hash code points, not salted
    ``str`` hashes, so any process can read it. When ``closed`` (every term's two
    (n-1)-grams are terms too: a ``min_df`` vocabulary), an n-gram is looked up only if
    both were found: most of a review's 3- and 4-grams are never looked up, each lookup
    being a cache miss.
    """

    preprocess: Callable[[str], str]
    min_run: int
    singles: str
    low: int
    high: int
    table: bytes
    closed: bool
    binary: bool

    @property
    def portable(self) -> bool:
        """Whether it is plain data and this package's code, with nothing of scikit-learn's:
        then it can be pickled and run where scikit-learn was never imported."""
        return isinstance(self.preprocess, Preprocessing)

    def __call__(self, text: str) -> tuple[Ints, Floats]:
        found, counts = _scoring.count(
            self.preprocess(text), self.min_run, self.singles, self.low, self.high, self.table,
            self.closed,
        )  # fmt: skip
        indices = np.frombuffer(found, dtype=np.int64)
        values = np.ones(len(indices)) if self.binary else np.frombuffer(counts, dtype=np.float64)
        return indices, values


def _tfidf_ops(step: Any, where: str) -> list[Op]:
    from sklearn.feature_extraction.text import TfidfTransformer

    if not isinstance(step, TfidfTransformer):
        raise NotCompilableError(f"{where} is not a TfidfTransformer")
    ops: list[Op] = []
    if step.sublinear_tf:
        ops.append(Sublinear())
    if hasattr(step, "idf_"):
        ops.append(Scale(np.asarray(step.idf_)))
    if step.norm is not None:
        ops.append(_normalize(step.norm, where))
    return ops


def _normalize(norm: str, where: str) -> Normalize:
    if norm not in ("l1", "l2"):
        raise NotCompilableError(f"{where} has norm {norm!r}")
    return Normalize("l1" if norm == "l1" else "l2")


def _merge_scales(ops: list[Op]) -> list[Op]:
    """Consecutive scalings as one (a product computed once, in float64)."""
    merged: list[Op] = []
    for op in ops:
        previous = merged[-1] if merged else None
        if isinstance(op, Scale) and isinstance(previous, Scale):
            merged[-1] = Scale(
                np.asarray(previous.factors, dtype=np.float64)
                * np.asarray(op.factors, dtype=np.float64)
            )
        else:
            merged.append(op)
    return merged


def _classifier(step: Any, width: int) -> tuple[Floats, float, bool]:
    """Weights, intercept, and whether the positive class is ``classes_[1]``."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    name = type(step).__name__
    if isinstance(step, SGDClassifier):
        if step.loss != "log_loss":
            raise NotCompilableError(f"SGDClassifier with loss {step.loss!r}, not 'log_loss'")
    elif not isinstance(step, LogisticRegression):
        raise NotCompilableError(f"{name} is not a known linear classifier")
    classes = [str(c) for c in step.classes_]
    coef = np.asarray(step.coef_)
    if len(classes) != 2 or coef.shape != (1, width):
        raise NotCompilableError(f"{name} is not binary over {width} features (coef {coef.shape})")
    intercept = float(np.ravel(step.intercept_)[0]) if np.size(step.intercept_) else 0.0
    return coef[0].astype(np.float64), intercept, classes[1] == "positive"


def prove(scorer: LinearTextScorer, pipeline: Any, text_column: str, texts: Sequence[str]) -> float:
    """The largest difference in positive probability between ``scorer`` and ``pipeline``."""
    return difference(scorer, texts, pipeline_positive_proba(pipeline, text_column, texts))


def pipeline_positive_proba(pipeline: Any, text_column: str, texts: Sequence[str]) -> Floats:
    """The pipeline's own probability of the positive class for each text."""
    import pandas as pd

    proba = np.asarray(pipeline.predict_proba(pd.DataFrame({text_column: list(texts)})))
    classes = [str(c) for c in pipeline.classes_]
    return proba[:, classes.index("positive")].astype(np.float64)


def difference(scorer: LinearTextScorer, texts: Sequence[str], expected: Floats) -> float:
    """The largest difference between ``scorer``'s probabilities and ``expected``."""
    got = np.asarray(scorer.positive_proba(texts))
    if got.shape != np.shape(expected) or not np.all(np.isfinite(got)):
        return math.inf
    return float(np.max(np.abs(got - expected), initial=0.0))
