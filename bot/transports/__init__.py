"""Transports turn a chat network's events into `Incoming` and send `Outgoing`.

Each transport gives the bot a `send(Outgoing)` coroutine and feeds it messages through
`Bot.handle`. Only modules in this package (and bot/web) may import network libraries.
"""
