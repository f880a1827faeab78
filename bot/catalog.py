"""Reading the catalog file (docs/CONTRACTS.md section 1) and keeping the product table in step."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.core.config import ConfigError
from handlers.parsing import CatalogError, Offer, Product, offer_from_catalog
from models.tables import Product as ProductRow


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


async def sync_products(products: tuple[Product, ...]) -> None:
    """The product table mirrors the catalog; products no longer listed become inactive."""
    listed = set()
    for position, product in enumerate(products, start=1):
        listed.add(product.sku)
        await ProductRow.update_or_create(
            sku=product.sku,
            defaults={"name": product.name, "unit": product.unit, "price": product.price,
                      "stock": product.stock, "active": product.active, "position": position,
                      "aliases": list(product.aliases)},
        )
    await ProductRow.exclude(sku__in=list(listed)).update(active=False)
