"""A text vectorizer's built-in preprocessing, as data: lowercasing and accent stripping.

scikit-learn's ``build_preprocessor`` returns a ``functools.partial`` over its own
functions, and a scorer holding it needs scikit-learn imported to run or to be
unpickled. This is the same preprocessing in a dozen lines of the standard library, so
a compiled scorer can be built in another process and served by one that never imports
scikit-learn (about 90 MB of the server's memory). It reproduces scikit-learn's
``_preprocess``, ``strip_accents_ascii`` and ``strip_accents_unicode``; a scorer using it
is still proven against the pipeline's own ``predict_proba`` before it serves.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

AccentStripping = Literal["ascii", "unicode"]


@dataclass(frozen=True, slots=True)
class Preprocessing:
    """Lowercase (when ``lowercase``), then strip accents (when ``strip_accents``)."""

    lowercase: bool
    strip_accents: AccentStripping | None = None

    @classmethod
    def of(cls, vectorizer: Any) -> Preprocessing | None:
        """The vectorizer's preprocessing, or ``None`` when it is a function of its own
        (a custom ``preprocessor`` or ``strip_accents``)."""
        if vectorizer.preprocessor is not None:
            return None
        strip = vectorizer.strip_accents or None
        if strip is not None and strip not in ("ascii", "unicode"):
            return None
        return cls(bool(vectorizer.lowercase), strip)

    def __call__(self, text: str) -> str:
        if self.lowercase:
            text = text.lower()
        if self.strip_accents == "unicode":
            if text.isascii():  # nothing to strip, and no normalization to pay for
                return text
            normalized = unicodedata.normalize("NFKD", text)
            return "".join(c for c in normalized if not unicodedata.combining(c))
        if self.strip_accents == "ascii":
            return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        return text
