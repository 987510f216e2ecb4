"""SIC codes (SEC's industry classification) -> the 11 GICS-style sectors of ``invest.data.schema``.

SIC predates GICS and cuts industries differently, so this is an approximation by
code ranges (``SIC_SECTORS``, narrowest range first). Known misfits: internet
platforms file under 7370-7379 (Alphabet, Meta) and land in Information Technology
rather than Communication Services; payment networks (Visa, Mastercard: 7389) land in
Industrials rather than Financials; conglomerates take their primary SIC code.
Codes SEC uses for shells and non-operating entities (6770 blank checks, 9995) map to
Financials and to no sector respectively.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invest.data.schema import UNKNOWN
from invest.errors import DataError

IT = "Information Technology"
CD = "Consumer Discretionary"
CS = "Consumer Staples"
HC = "Health Care"
IND = "Industrials"
MAT = "Materials"
COM = "Communication Services"

# (first, last, sector), inclusive; the first matching range wins, so exceptions come before their division.
SIC_SECTORS: tuple[tuple[int, int, str], ...] = (
    # narrow exceptions
    (800, 899, MAT),  # forestry
    (1531, 1531, CD),  # operative builders (homebuilders)
    (2830, 2836, HC),  # drugs, biologicals
    (2840, 2844, CS),  # soap, detergents, perfumes, cosmetics
    (3011, 3011, CD),  # tires
    (3570, 3579, IT),  # computers and office equipment
    (3630, 3639, CD),  # household appliances
    (3651, 3652, CD),  # household audio and video, records
    (3660, 3679, IT),  # communications equipment, semiconductors, electronic components
    (3710, 3716, CD),  # motor vehicles and parts (3711: Tesla)
    (3750, 3751, CD),  # motorcycles, bicycles
    (3790, 3799, CD),  # recreational vehicles, misc transport equipment
    (3812, 3812, IND),  # search and navigation (defence electronics)
    (3820, 3829, IT),  # measuring and controlling instruments
    (3840, 3851, HC),  # medical instruments and supplies, ophthalmic goods
    (3861, 3861, IT),  # photographic equipment
    (3873, 3873, CD),  # watches
    (4950, 4959, IND),  # sanitary services (waste management)
    (5120, 5129, HC),  # drugs wholesale
    (5140, 5159, CS),  # groceries and farm products wholesale
    (5170, 5172, "Energy"),  # petroleum products wholesale
    (5400, 5499, CS),  # food stores
    (5912, 5912, CS),  # drug stores
    (6500, 6599, "Real Estate"),  # real estate operators, developers, agents
    (6798, 6798, "Real Estate"),  # real estate investment trusts
    (7310, 7319, COM),  # advertising
    (7370, 7379, IT),  # computer programming, software (7372), data processing
    (7800, 7899, COM),  # motion pictures, video
    (8000, 8099, HC),  # health services
    (8731, 8731, HC),  # commercial physical and biological research (biotech)
    (8200, 8299, CD),  # educational services
    # divisions and major groups
    (100, 999, CS),  # agriculture, fishing
    (1000, 1099, MAT),  # metal mining
    (1200, 1399, "Energy"),  # coal, oil and gas extraction and services
    (1400, 1499, MAT),  # nonmetallic minerals
    (1500, 1799, IND),  # construction
    (2000, 2199, CS),  # food, beverages, tobacco
    (2200, 2399, CD),  # textiles, apparel
    (2400, 2499, MAT),  # lumber and wood
    (2500, 2599, CD),  # furniture
    (2600, 2699, MAT),  # paper
    (2700, 2799, COM),  # printing and publishing
    (2800, 2899, MAT),  # chemicals
    (2900, 2999, "Energy"),  # petroleum refining
    (3000, 3099, MAT),  # rubber and plastics
    (3100, 3199, CD),  # leather
    (3200, 3399, MAT),  # stone, clay, glass; primary metals
    (3400, 3599, IND),  # fabricated metal, industrial machinery
    (3600, 3699, IND),  # electrical equipment
    (3700, 3799, IND),  # aircraft, ships, railroad equipment, defence
    (3800, 3899, IND),  # instruments
    (3900, 3999, CD),  # jewelry, toys, sporting goods
    (4000, 4799, IND),  # transportation
    (4800, 4899, COM),  # telephone, broadcasting, cable
    (4900, 4999, "Utilities"),  # electric (4911), gas, water
    (5000, 5199, IND),  # wholesale trade
    (5200, 5999, CD),  # retail trade, restaurants
    (6000, 6799, "Financials"),  # banks (6021), credit, brokers, insurance, holding and investment offices, 6770 blank checks
    (7000, 7099, CD),  # hotels
    (7200, 7299, CD),  # personal services
    (7300, 7399, IND),  # business services
    (7500, 7599, CD),  # auto repair and rental
    (7900, 7999, CD),  # amusement and recreation, casinos
    (8100, 8999, IND),  # legal, engineering, accounting, management services
)


def sector_for_sic(sic: int | str | None) -> str | None:
    """The GICS-style sector of a SIC code (``SIC_SECTORS``); None for no code or one outside every range."""
    if sic is None or (isinstance(sic, str) and not sic.strip()):
        return None
    try:
        code = int(sic)
    except (TypeError, ValueError):
        raise DataError(f"SIC code {sic!r} is not a number") from None
    for first, last, sector in SIC_SECTORS:
        if first <= code <= last:
            return sector
    return None


def company_row(submissions: Mapping[str, Any], ticker: str) -> dict[str, Any]:
    """A ``companies`` row (ticker, name, sector, industry) from a ``submissions`` answer; unknown labels are ``Unknown``."""
    if not isinstance(submissions, Mapping) or "sic" not in submissions:
        raise DataError(f"SEC submissions for {ticker}: no 'sic' field; is it a submissions file?")
    return {
        "ticker": ticker,
        "name": submissions.get("name") or ticker,
        "sector": sector_for_sic(submissions.get("sic")) or UNKNOWN,
        "industry": submissions.get("sicDescription") or UNKNOWN,
    }
