"""Pure, synchronous understanding of chat text: text + offer -> frozen values. No I/O."""

from handlers.parsing.offer import CatalogError, Offer, Product, offer_from_catalog
from handlers.parsing.parser import parse
from handlers.parsing.results import ChainLine, Item, Parsed

__all__ = ["CatalogError", "ChainLine", "Item", "Offer", "Parsed", "Product", "offer_from_catalog", "parse"]
