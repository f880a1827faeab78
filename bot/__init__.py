"""groupbuy-bot: the running program (config, clock, app wiring, dispatcher, transports, web, CLI)."""
