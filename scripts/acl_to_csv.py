"""Turn the Stanford ``aclImdb_v1.tar.gz`` into the ``review,sentiment`` CSV the tests read.

Only the labelled *train* half goes in (25,000 reviews), shuffled with a fixed seed,
which is the shape of ``shared/datasets/imdb/train.csv.gz``. Standard library only.
"""

from __future__ import annotations

import csv
import gzip
import random
import re
import sys
import tarfile

MEMBER = re.compile(r"aclImdb/train/(pos|neg)/[^/]+\.txt$")


def main(tarball: str, out: str) -> None:
    """Write the CSV."""
    rows: list[tuple[str, str]] = []
    with tarfile.open(tarball, "r|gz") as archive:
        for member in archive:
            match = MEMBER.search(member.name)
            handle = archive.extractfile(member) if match else None
            if match and handle is not None:
                label = "positive" if match.group(1) == "pos" else "negative"
                rows.append((handle.read().decode("utf-8"), label))
    random.Random(42).shuffle(rows)  # noqa: S311 - a reproducible order, not a secret
    with gzip.open(out, "wt", encoding="utf-8", newline="") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(["review", "sentiment"])
        writer.writerows(rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
