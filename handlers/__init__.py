"""What a message means (handlers.parsing, pure) and what the shop does about it (one router
per concern). ROUTERS is the order in which the dispatcher tries them."""

from handlers import chains, orders, staff

ROUTERS = [staff.router, chains.router, orders.router]
