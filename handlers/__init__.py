"""What a message means (handlers.parsing, pure) and what the shop does about it (one router
per concern, listed in handlers.routers)."""
