"""The product and community tables follow the catalog and the config, at every start."""

from __future__ import annotations

from bot.core.config import Config
from models.catalog import Product
from models.tables import Community
from models.tables import Product as ProductRow


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


async def sync_communities(config: Config) -> None:
    """Communities follow the config. A slot staff changed (/配送) stays in force until the
    config's own slot for that group changes."""
    rooms = []
    for group in config.groups:
        rooms.append(group.room)
        community = await Community.get_or_none(room=group.room)
        if community is None:
            await Community.create(room=group.room, name=group.community, delivery_slot=group.delivery,
                                   config_slot=group.delivery, active=True)
            continue
        community.name, community.active = group.community, True
        if community.config_slot != group.delivery:
            community.delivery_slot = community.config_slot = group.delivery
        await community.save(update_fields=["name", "active", "delivery_slot", "config_slot"])
    await Community.exclude(room__in=rooms).update(active=False)
