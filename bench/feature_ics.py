"""Each stored price feature alone as a ranking: its mean per-date rank IC against the label, on the
snapshots of a store (the universe as the cache stage kept it), by year.

    python bench/feature_ics.py [--db data/stock_data.db] [--from 2008] [--to 2022] [--label fwd_exc_1y]

What a model's rank IC should be read against: if one raw feature already ranks as well, the model
has found that feature (or its sign), not something new. No training; a few seconds to a minute.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pandas as pd
from common import print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("data/stock_data.db"))
    parser.add_argument("--from", dest="first", type=int, default=2008, help="first snapshot year")
    parser.add_argument("--to", dest="last", type=int, default=2022, help="last snapshot year")
    parser.add_argument("--label", default="fwd_exc_1y")
    args = parser.parse_args()
    connection = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    window = (f"{args.first}-01-01", f"{args.last + 1}-01-01")
    labels = pd.read_sql_query(
        f"select ticker_id, date, {args.label} from snapshots where date >= ? and date < ?", connection, params=window
    )
    monthly = pd.read_sql_query("select * from monthly where date >= ? and date < ?", connection, params=window)
    frame = labels.merge(monthly, on=["ticker_id", "date"]).dropna(subset=[args.label])
    features = [column for column in monthly.columns if column not in ("ticker_id", "date")]
    ranks = frame.groupby("date")[[*features, args.label]].rank()
    ranks["date"] = frame["date"]
    rows = []
    for feature in features:
        ic = ranks.groupby("date")[[feature, args.label]].corr().xs(feature, level=1)[args.label]
        yearly = ic.groupby(pd.to_datetime(ic.index).year).mean()
        rows.append([feature, f"{ic.mean():+.3f}", f"{yearly.std():.3f}", f"{(yearly > 0).mean():.2f}",
                     f"{yearly.idxmin()} {yearly.min():+.3f}", f"{yearly.idxmax()} {yearly.max():+.3f}"])  # fmt: skip
    rows.sort(key=lambda row: -abs(float(row[1])))
    per_date = frame.groupby("date").size()
    print(
        f"# {args.db}: {len(frame):,} snapshots on {len(per_date)} dates ({per_date.min()}-{per_date.max()} a date), "
        f"{args.first}-{args.last}, label {args.label}\n"
    )
    print_table(["feature", "mean rank IC", "sd over years", "years > 0", "worst year", "best year"], rows)


if __name__ == "__main__":
    main()
