"""The catalog (docs/CONTRACTS.md section 1): its products, the offer members order from
(the active products, numbered from 1 in catalog order), and reading the file. Plain values:
the parser reads against them without touching the database (models.sync keeps the product
table in step)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.core.config import ConfigError
from bot.core.text import fold


class CatalogError(ValueError):
    """A catalog that cannot be used; the message names the product and the key."""


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    unit: str
    price: Decimal
    aliases: tuple[str, ...] = ()
    stock: Decimal | None = None  # units per delivery day; None = unlimited
    active: bool = True
    group_price: Decimal | None = None  # a member may open a group-buy (开团) of it at this price
    group_size: int | None = None  # ... which succeeds with this many members

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Offer:
    """What members can order today. `products[0]` is 1号. (How the parser finds products by
    name in chat is the parser's own business: handlers.parsing.lexer.lexicon_of.)"""

    products: tuple[Product, ...]
    _by_sku: Mapping[str, Product] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_sku", {p.sku: p for p in self.products})

    def __len__(self) -> int:
        return len(self.products)

    def by_sku(self, sku: str) -> Product | None:
        return self._by_sku.get(sku)

    def by_number(self, number: int) -> Product | None:
        return self.products[number - 1] if 1 <= number <= len(self.products) else None

    def number_of(self, product: Product) -> int:
        return self.products.index(product) + 1


def _decimal(value: Any, where: str, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CatalogError(f"{where} {key}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise CatalogError(f"{where} {key}: expected a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise CatalogError(f"{where} {key}: must be a number 0 or more, got {value!r}")
    if number >= MAX_NUMBER:
        raise CatalogError(f"{where} {key}: must be less than {MAX_NUMBER:,}, got {value!r}")
    return number


MAX_NUMBER = Decimal(100_000_000)  # prices and stock (the tables hold 12 digits with the decimals)


_PRODUCT_KEYS = {"sku", "name", "aliases", "unit", "price", "stock", "active", "group_price", "group_size"}


def _group_terms(entry: Mapping[str, Any], where: str) -> tuple[Decimal | None, int | None]:
    """`group_price` and `group_size` come together, or not at all."""
    if ("group_price" in entry) != ("group_size" in entry):
        missing = "group_size" if "group_price" in entry else "group_price"
        raise CatalogError(f"{where} {missing}: missing (group_price and group_size go together)")
    if "group_price" not in entry:
        return None, None
    price = _decimal(entry["group_price"], where, "group_price")
    if price <= 0:
        raise CatalogError(f"{where} group_price: must be more than 0")
    size = entry["group_size"]
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= 100:
        raise CatalogError(f"{where} group_size: expected a whole number 2-100, got {size!r}")
    return price, size


def offer_from_catalog(raw: Mapping[str, Any]) -> tuple[Offer, tuple[Product, ...]]:
    """The offer (active products) and every product, from a parsed catalog TOML document."""
    entries = raw.get("product", [])
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise CatalogError("[[product]]: expected an array of tables")
    products: list[Product] = []
    names: dict[str, str] = {}  # every name and alias, folded -> the sku it names
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"[[product]] #{index}"
        if not isinstance(entry, Mapping):
            raise CatalogError(f"{where}: expected a table")
        unknown = sorted(set(entry) - _PRODUCT_KEYS)
        if unknown:
            raise CatalogError(f"{where} {unknown[0]}: unknown key")
        for key in ("sku", "name", "unit"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise CatalogError(f"{where} {key}: missing or not a string")
        sku = entry["sku"].strip()
        if sku in seen:
            raise CatalogError(f'{where} sku: "{sku}" is used twice')
        seen.add(sku)
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            # a blank alias would be found everywhere, and every message read as nothing
            raise CatalogError(f"{where} aliases: expected a list of non-blank strings")
        for name in (entry["name"], *aliases):
            owner = names.setdefault(fold(name.strip()), sku)
            if owner != sku:
                raise CatalogError(f'{where} {"name" if name == entry["name"] else "aliases"}: '
                                   f'"{name.strip()}" is already a name of {owner}')
        if "price" not in entry:
            raise CatalogError(f"{where} price: missing")
        active = entry.get("active", True)
        if not isinstance(active, bool):
            raise CatalogError(f"{where} active: expected true or false")
        stock = entry.get("stock")
        group_price, group_size = _group_terms(entry, where)
        products.append(
            Product(
                sku=sku,
                name=entry["name"].strip(),
                unit=entry["unit"].strip(),
                price=_decimal(entry["price"], where, "price"),
                aliases=tuple(a.strip() for a in aliases),
                stock=None if stock is None else _decimal(stock, where, "stock"),
                active=active,
                group_price=group_price,
                group_size=group_size,
            )
        )
    if not products:
        raise CatalogError("[[product]]: the catalog lists no product")
    if not any(p.active for p in products):
        # the bot would post "今天有：" with nothing after it, and read every order as unknown
        raise CatalogError("[[product]] active: every product is inactive; set active = true on what is sold today")
    return Offer(tuple(p for p in products if p.active)), tuple(products)


def load_catalog(path: Path) -> tuple[Offer, tuple[Product, ...]]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"[catalog] file: {path} not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"[catalog] file: {path}: {error}") from None
    try:
        return offer_from_catalog(raw)
    except CatalogError as error:
        raise ConfigError(f"[catalog] file: {path}: {error}") from None
