"""The merchants' data resource: load a catalog (JSON, or a pair of CSV files), validate it, and look things up.

Schema (the README's "Product pages" section has the full table): a JSON object with `merchants` (id, brand_name,
website_url, logo, colour, landing_pages[]) and `products` (id, merchant_id, category, brand, title, price, currency,
rating, review_count, url, buy_url, image, description, attributes{}); or `merchants.csv` (one row per landing page)
beside `products.csv` (attributes as `attr.NAME` columns). Every problem is reported with its file and line.
"""

from __future__ import annotations

import base64
import bisect
import csv
import hashlib
import io
import json
import math
import re
import threading
from dataclasses import dataclass
from json.decoder import JSONObject  # type: ignore[attr-defined]
from json.scanner import py_make_scanner  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Iterable

from assistant.errors import AssistantError
from assistant.pages.models import LandingPage, Organization, Product, on_domain

DEMO_CATALOG = Path(__file__).parent / "catalog"
MAX_FILE_BYTES = 50_000_000
MAX_PRODUCTS = 100_000
MAX_IMAGE_BYTES = 256_000
MAX_PROBLEMS_SHOWN = 10
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
METRICS = ("conversion_rate", "bounce_rate", "ctr", "design_quality", "content_quality")
IMAGE_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
TEXT_LIMITS = {"brand_name": 80, "title": 200, "brand": 80, "category": 40, "description": 2000}


class CatalogError(AssistantError):
    """The catalog cannot be used; the message lists what is wrong, with file and line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
        super().__init__("the catalog has problems: " + "; ".join(shown) + more if len(problems) > 1 else f"the catalog: {problems[0]}")


class _Located(dict):
    """A JSON object that remembers the line it starts on."""

    line = 0


class _LineDecoder(json.JSONDecoder):
    """A JSON decoder whose objects carry their line numbers (pure-Python scanner: fine for catalogs)."""

    def __init__(self) -> None:
        super().__init__()
        self._newlines: list[int] = []
        self.parse_object = self._parse_object
        self.scan_once = py_make_scanner(self)

    def _parse_object(self, s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        s, end = s_and_end
        found, stop = JSONObject(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo)
        located = _Located(found)
        located.line = bisect.bisect_left(self._newlines, end - 1) + 1
        return located, stop

    def decode(self, s: str, *args: Any) -> Any:  # noqa: D401 - the json API
        self._newlines = [m.start() for m in re.finditer("\n", s)]
        return super().decode(s, *args)


@dataclass(frozen=True)
class Catalog:
    """Merchants and their products, validated; `digest` changes whenever the content does."""

    organizations: dict[str, Organization]
    products: tuple[Product, ...]
    digest: str
    root: Path | None = None  # where relative image paths live
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {p.id: p for p in self.products})

    def product(self, product_id: str) -> Product | None:
        """A product by id."""
        return self._by_id.get(product_id)  # type: ignore[attr-defined]

    def organization(self, org_id: str) -> Organization | None:
        """A merchant by id."""
        return self.organizations.get(org_id)

    def feed(self, org_id: str) -> tuple[Product, ...]:
        """A merchant's products."""
        found = self.organizations.get(org_id)
        return found.product_feed if found else ()

    @property
    def categories(self) -> tuple[str, ...]:
        """Every category, in catalog order."""
        return tuple(dict.fromkeys(p.category for p in self.products))

    @property
    def brands(self) -> tuple[str, ...]:
        """Every product brand, in catalog order."""
        return tuple(dict.fromkeys(p.brand for p in self.products if p.brand))

    def landing_pages(self) -> list[LandingPage]:
        """Every landing page of every merchant."""
        return [page for org in self.organizations.values() for page in org.landing_pages]

    def image_uri(self, ref: str) -> str:
        """What an <img> may load: an http(s) URL, or a data: URI of an image file inside the catalog directory ('' otherwise)."""
        if not ref:
            return ""
        if re.match(r"^https?://", ref, re.I):
            return ref
        if self.root is None or ref.startswith(("/", "\\")) or ".." in Path(ref).parts or ":" in ref:
            return ""
        path = (self.root / ref).resolve()
        kind = IMAGE_TYPES.get(path.suffix.lower())
        try:
            if kind is None or not path.is_relative_to(self.root.resolve()) or path.stat().st_size > MAX_IMAGE_BYTES:
                return ""
            return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
        except OSError:
            return ""


# -- validation ------------------------------------------------------------------------------------------------
class _Checker:
    """Collects problems with their locations while reading one record."""

    def __init__(self, problems: list[str], where: str) -> None:
        self.problems, self.where = problems, where

    def fail(self, message: str) -> None:
        self.problems.append(f"{self.where}: {message}")

    def text(self, record: dict, key: str, *, required: bool = False, default: str = "") -> str:
        value = record.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(f"{key} is missing")
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.fail(f"{key} must be text")
            return default
        text = " ".join(str(value).split())
        limit = TEXT_LIMITS.get(key, 500)
        if len(text) > limit:
            self.fail(f"{key} is {len(text)} characters long (at most {limit})")
            return text[:limit]
        return text

    def number(self, record: dict, key: str, *, low: float, high: float, required: bool = False) -> float | None:
        value = record.get(key)
        if value is None or value == "":
            if required:
                self.fail(f"{key} is missing")
            return None
        try:
            number = float(str(value).replace(",", "")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
            self.fail(f"{key} must be a number from {low:g} to {high:g}, got {value!r}")
            return None
        return number

    def flag(self, record: dict, key: str) -> bool | None:
        value = record.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1"):
            return True
        if text in ("false", "no", "0"):
            return False
        self.fail(f"{key} must be true or false, got {value!r}")
        return None

    def url(self, record: dict, key: str, *, required: bool = False, home: str = "") -> str:
        value = self.text(record, key, required=required)
        if not value:
            return ""
        if not re.match(r"^https?://[^\s/?#]+", value, re.I):
            self.fail(f"{key} must be an http(s) URL, got {value[:80]!r}")
            return ""
        if home and not on_domain(value, home):
            self.fail(f"{key} {value[:80]!r} is not on the merchant's website {home}")
            return ""
        return value


def _attributes(check: _Checker, value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        check.fail("attributes must be an object of name: value")
        return {}
    cleaned: dict[str, Any] = {}
    for name, item in value.items():
        key = str(name).strip()
        if not re.fullmatch(r"[A-Za-z0-9_ .-]{1,40}", key):
            check.fail(f"attribute name {key[:40]!r} must be 1-40 letters, digits, spaces, _ . -")
            continue
        items = item if isinstance(item, list) else [item]
        if len(items) > 20 or not all(isinstance(v, (str, int, float, bool)) and len(str(v)) <= 200 for v in items):
            check.fail(f"attribute {key} must be text, a number, true/false or a short list of them")
            continue
        cleaned[key] = [" ".join(str(v).split()) if isinstance(v, str) else v for v in items] if isinstance(item, list) else (
            " ".join(item.split()) if isinstance(item, str) else item)
    return cleaned


def _merchant(record: Any, where: str, problems: list[str]) -> Organization | None:
    check = _Checker(problems, where)
    if not isinstance(record, dict):
        check.fail("each merchant must be an object")
        return None
    org_id = check.text(record, "id", required=True)
    if org_id and not ID.match(org_id):
        check.fail(f"id {org_id[:70]!r} must be 1-64 letters, digits, _ . - (starting with a letter or digit)")
    check.where = f"{where} (merchant {org_id!r})" if org_id else where
    website = check.url(record, "website_url", required=True)
    colour = check.text(record, "colour", default="#555555")
    if not COLOUR.match(colour):
        check.fail(f"colour must look like #1f5f8b, got {colour[:20]!r}")
        colour = "#555555"
    pages: list[LandingPage] = []
    raw_pages = record.get("landing_pages")
    if not isinstance(raw_pages, list) or not raw_pages:
        check.fail("landing_pages must be a list with at least one landing page")
        raw_pages = []
    for k, page in enumerate(raw_pages):
        inner = _Checker(problems, f"{check.where} landing_pages[{k}]" + (f" line {page.line}" if getattr(page, "line", 0) else ""))
        if not isinstance(page, dict):
            inner.fail("must be an object")
            continue
        metrics = {m: inner.number(page, m, low=0.0, high=1.0) for m in METRICS}
        perf = page.get("performance_metrics") or {}
        if not isinstance(perf, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in perf.values()):
            inner.fail("performance_metrics must be an object of name: number")
            perf = {}
        pages.append(LandingPage(url=inner.url(page, "url", required=True), org_id=org_id, category=inner.text(page, "category").lower(),
                                 has_product_filter=inner.flag(page, "has_product_filter"),
                                 performance_metrics={str(k): float(v) for k, v in perf.items()}, **metrics))
    return Organization(id=org_id, brand_name=check.text(record, "brand_name", required=True), website_url=website,
                        logo=check.text(record, "logo"), colour=colour, landing_pages=tuple(pages))


def _product(record: Any, where: str, problems: list[str], merchants: dict[str, Organization]) -> Product | None:
    check = _Checker(problems, where)
    if not isinstance(record, dict):
        check.fail("each product must be an object")
        return None
    product_id = check.text(record, "id", required=True)
    if product_id and not ID.match(product_id):
        check.fail(f"id {product_id[:70]!r} must be 1-64 letters, digits, _ . - (starting with a letter or digit)")
    check.where = f"{where} (product {product_id!r})" if product_id else where
    org_id = check.text(record, "merchant_id", required=True)
    merchant = merchants.get(org_id)
    if org_id and merchant is None:
        check.fail(f"merchant_id {org_id[:70]!r} is not one of the merchants")
    home = merchant.website_url if merchant else ""
    url = check.url(record, "url", required=True, home=home)
    currency = check.text(record, "currency", default="USD").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        check.fail(f"currency must be a three-letter code such as USD, got {currency[:10]!r}")
    count = check.number(record, "review_count", low=0, high=1e9)
    price = check.number(record, "price", low=0.01, high=1e7, required=True)
    before = len(problems)
    product = Product(
        id=product_id, org_id=org_id, category=check.text(record, "category", required=True).lower(),
        brand=check.text(record, "brand", default=merchant.brand_name if merchant else ""), title=check.text(record, "title", required=True),
        price=round(price or 0.0, 2), pdp_url=url, product_page_url=check.url(record, "buy_url", home=home) or url, currency=currency,
        rating=check.number(record, "rating", low=0, high=5), review_count=int(count or 0), description=check.text(record, "description"),
        image=check.text(record, "image"), attributes=_attributes(check, record.get("attributes")))
    return product if len(problems) == before else None


def build_catalog(data: Any, *, source: str = "catalog", root: Path | None = None) -> Catalog:
    """Validate a parsed catalog document; raise CatalogError listing every problem."""
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("merchants"), list) or not isinstance(data.get("products"), list):
        raise CatalogError([f"{source}: must be an object with a list of merchants and a list of products"])
    merchants: dict[str, Organization] = {}
    for k, record in enumerate(data["merchants"]):
        where = getattr(record, "where", "") or (f"{source} line {record.line}" if getattr(record, "line", 0) else f"{source} merchants[{k}]")
        org = _merchant(record, where, problems)
        if org is not None and org.id in merchants:
            problems.append(f"{where}: merchant id {org.id!r} appears twice")
        elif org is not None and org.id:
            merchants[org.id] = org
    if len(data["products"]) > MAX_PRODUCTS:
        raise CatalogError([f"{source}: {len(data['products']):,} products; at most {MAX_PRODUCTS:,} are supported"])
    products: list[Product] = []
    seen: set[str] = set()
    for k, record in enumerate(data["products"]):
        where = getattr(record, "where", "") or (f"{source} line {record.line}" if getattr(record, "line", 0) else f"{source} products[{k}]")
        product = _product(record, where, problems, merchants)
        if product is not None and product.id in seen:
            problems.append(f"{where}: product id {product.id!r} appears twice")
        elif product is not None:
            seen.add(product.id)
            products.append(product)
    if not products and not problems:
        problems.append(f"{source}: there are no products")
    if problems:
        raise CatalogError(problems)
    feeds: dict[str, list[Product]] = {}
    for product in products:
        feeds.setdefault(product.org_id, []).append(product)
    organizations = {org_id: _with_feed(org, tuple(feeds.get(org_id, ()))) for org_id, org in merchants.items()}
    digest = hashlib.sha256(json.dumps([_plain(o) for o in organizations.values()], sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Catalog(organizations, tuple(products), digest, root, str(data.get("name") or source))


def _with_feed(org: Organization, feed: tuple[Product, ...]) -> Organization:
    from dataclasses import replace

    return replace(org, product_feed=feed)


def _plain(org: Organization) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(org)


# -- reading files -----------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CatalogError([f"{path.name}: {size:,} bytes; at most {MAX_FILE_BYTES:,}"])
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise CatalogError([f"{path}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise CatalogError([f"{path.name}: is not UTF-8 text (byte {exc.start})"]) from None
    except OSError as exc:
        raise CatalogError([f"{path}: cannot be read ({exc.strerror or exc})"]) from None


def parse_json(text: str, *, source: str) -> Any:
    """Parse JSON text whose objects carry their line numbers; syntax errors name line and column."""
    try:
        return _LineDecoder().decode(text)
    except json.JSONDecodeError as exc:
        raise CatalogError([f"{source} line {exc.lineno} column {exc.colno}: {exc.msg}"]) from None
    except RecursionError:
        raise CatalogError([f"{source}: nested too deeply"]) from None


def _cell(value: str) -> Any:
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "|" in text:
        return [_cell(part) for part in text.split("|") if part.strip()]
    try:
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text) if re.fullmatch(r"-?\d+\.\d*|-?\.\d+", text) else text
    except ValueError:
        return text


def _csv_rows(text: str, source: str) -> Iterable[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise CatalogError([f"{source}: is empty (it needs a header line)"])
    try:
        for row in reader:
            if None in row:
                raise CatalogError([f"{source} line {reader.line_num}: more cells than header columns"])
            yield reader.line_num, {k.strip(): (v or "") for k, v in row.items() if k}
    except csv.Error as exc:
        raise CatalogError([f"{source} line {reader.line_num}: {exc}"]) from None


def parse_csv(merchants_text: str, products_text: str, *, merchants_source: str = "merchants.csv",
              products_source: str = "products.csv") -> dict[str, Any]:
    """Turn merchants.csv (one row per landing page) and products.csv into a catalog document with line numbers."""
    merchants: dict[str, _Located] = {}
    for line, row in _csv_rows(merchants_text, merchants_source):
        org_id = row.get("id", "").strip()
        page = _Located({"url": row.get("landing_page_url", ""), "category": row.get("category", ""),
                         "has_product_filter": row.get("has_product_filter", ""),
                         **{m: row.get(m, "") for m in METRICS},
                         "performance_metrics": {k[5:]: float(_cell(v)) for k, v in row.items() if k.startswith("perf.") and _is_number(v)}})
        page.line = line
        if org_id not in merchants:
            record = _Located({k: row.get(k, "") for k in ("id", "brand_name", "website_url", "logo", "colour")} | {"landing_pages": []})
            record.line = line
            merchants[org_id] = record
        merchants[org_id]["landing_pages"].append(page)
    products = []
    for line, row in _csv_rows(products_text, products_source):
        record = _Located({k: v for k, v in row.items() if not k.startswith("attr.")})
        record["attributes"] = {k[5:]: _cell(v) for k, v in row.items() if k.startswith("attr.") and v.strip()}
        record.line = line
        record.where = f"{products_source} line {line}"  # type: ignore[attr-defined]
        products.append(record)
    for record in merchants.values():
        record.where = f"{merchants_source} line {record.line}"  # type: ignore[attr-defined]
    return {"merchants": list(merchants.values()), "products": products, "name": products_source}


def _is_number(text: str) -> bool:
    return isinstance(_cell(text), (int, float)) and not isinstance(_cell(text), bool)


_CACHE: dict[tuple, Catalog] = {}
_CACHE_LOCK = threading.Lock()


def resolve(source: str | Path = "") -> Path:
    """The catalog file or directory a setting names ('' = the shipped demo catalog)."""
    return Path(source).expanduser() if str(source).strip() else DEMO_CATALOG


def load_catalog(source: str | Path = "") -> Catalog:
    """Load and validate a catalog: a .json file, a products .csv with merchants.csv beside it, or a directory of either."""
    path = resolve(source)
    if path.is_dir():
        path = path / "catalog.json" if (path / "catalog.json").is_file() else path / "products.csv"
    if not path.exists():
        raise CatalogError([f"{path}: no such file (give a catalog .json, a products .csv with merchants.csv beside it, or a directory)"])
    key = (str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    if path.suffix.lower() == ".csv":
        merchants_path = path.with_name("merchants.csv")
        data = parse_csv(_read_text(merchants_path), _read_text(path), merchants_source=merchants_path.name, products_source=path.name)
        catalog = build_catalog(data, source=path.name, root=path.parent)
    elif path.suffix.lower() == ".json":
        catalog = build_catalog(parse_json(_read_text(path), source=path.name), source=path.name, root=path.parent)
    else:
        raise CatalogError([f"{path.name}: a catalog is a .json file or a products .csv file"])
    with _CACHE_LOCK:
        _CACHE[key] = catalog
    return catalog
