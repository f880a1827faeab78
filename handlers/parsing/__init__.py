"""Pure, synchronous understanding of chat text: text + offer (models.catalog) -> frozen values.
No I/O."""

from handlers.parsing.parser import parse
from handlers.parsing.results import ChainLine, Item, Parsed

__all__ = ["ChainLine", "Item", "Parsed", "parse"]
