"""Company labels from ``Ticker.info``: name, sector (mapped to GICS names) and industry; never a number."""

from __future__ import annotations

from typing import Any

# Yahoo (Morningstar) sector names -> GICS names used by invest.data.schema.GICS_SECTORS.
SECTOR_TO_GICS = {
    "Basic Materials": "Materials",
    "Communication Services": "Communication Services",
    "Consumer Cyclical": "Consumer Discretionary",
    "Consumer Defensive": "Consumer Staples",
    "Energy": "Energy",
    "Financial Services": "Financials",
    "Healthcare": "Health Care",
    "Industrials": "Industrials",
    "Real Estate": "Real Estate",
    "Technology": "Information Technology",
    "Utilities": "Utilities",
}

UNKNOWN = "Unknown"


def company_row(ticker: str, info: dict[str, Any]) -> dict[str, str]:
    """Static labels only: name, sector, industry. Numeric info fields are never read."""

    def label(*keys: str) -> str | None:
        for key in keys:
            value = info.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())
        return None

    sector = label("sector")
    return {
        "ticker": ticker,
        "name": label("longName", "shortName") or ticker,
        "sector": SECTOR_TO_GICS.get(sector, sector) if sector else UNKNOWN,
        "industry": label("industry") or UNKNOWN,
    }


def unknown_row(ticker: str) -> dict[str, str]:
    """The labels of a ticker Yahoo could not describe."""
    return {"ticker": ticker, "name": ticker, "sector": UNKNOWN, "industry": UNKNOWN}
